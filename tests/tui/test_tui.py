#!/usr/bin/env python3
"""End-to-end tests of `mpdbg tui`: the real program in tmux, driven with
send-keys and read with capture-pane, live on ../shared/models and on a
recorded session.  TAP on stdout; skips without tmux or ../shared.

usage: test_tui.py MPDBG SOURCE_ROOT
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

MPDBG, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
SHARED = os.environ.get("MP_SHARED") or os.path.join(ROOT, "..", "shared")
MODELS = os.path.join(SHARED, "models")
MODEL = os.path.join(MODELS, "handpose_ts.onnx")
DATA = os.path.join(MODELS, "batches")
SOCK = "mpdbg-test-%d" % os.getpid()
# the sanitized build is slower; waits are for the screen, not fixed sleeps
WAIT = float(os.environ.get("MPDBG_TUI_WAIT", "60"))

n_test = 0
failed = 0


def ok(cond, name, screen=None):
    global n_test, failed
    n_test += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n_test, name))
    if not cond:
        failed += 1
        if screen is not None:
            for line in screen.splitlines():
                print("#   |" + line)
    sys.stdout.flush()
    return cond


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", SOCK] + list(args), capture_output=True, text=True, check=check)


def start(cmd, w, h):
    tmux("kill-session", "-t", "t", check=False)
    env = "LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color"
    shell = "%s %s; echo EXIT=$?; sleep 600" % (env, cmd)
    for attempt in range(50):  # a server that is still going away refuses new sessions for a moment
        r = tmux("new-session", "-d", "-s", "t", "-x", str(w), "-y", str(h), shell, check=False)
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("tmux new-session: " + r.stderr.strip())


def screen():
    return tmux("capture-pane", "-p", "-t", "t", check=False).stdout


def wait_for(text, timeout=WAIT):
    t0 = time.time()
    s = ""
    while time.time() - t0 < timeout:
        s = screen()
        if text in s:
            return True, s
        time.sleep(0.1)
    return False, s


def wait_until(pred, timeout=WAIT):
    t0 = time.time()
    s = ""
    while time.time() - t0 < timeout:
        s = screen()
        if pred(s):
            return True, s
        time.sleep(0.1)
    return False, s


def keys(*k):
    tmux("send-keys", "-t", "t", *k)


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def live_cmd(*extra):
    return " ".join([q(MPDBG), "tui", q(MODEL), "--data", q(DATA), "--glob", "'batch_*'", "--device", "cpu"] +
                    list(extra))


def lines_fit(s, w):
    return all(len(l.rstrip()) <= w for l in s.splitlines())


def test_live():
    start(live_cmd(), 110, 32)
    found, s = wait_for("batch 1/4")
    ok(found and "backbone" in s and "[live]" in s, "live: the header and the module tree appear", s)
    keys("n")
    found, s = wait_for("batch 2/4")
    ok(found, "live: n moves to batch 2/4", s)
    keys("s")
    found, s = wait_for("ran node 1/")
    ok(found, "live: s steps one node", s)
    keys("s")
    found, s = wait_for("ran node 2/")
    ok(found, "live: s again steps the next node", s)
    keys("/", "MatMul")
    found, s = wait_for("/MatMul")
    keys("Enter")
    found, s = wait_for("/MatMul: ")
    ok(found and "MatMul in" in s, "live: / finds a node and selects it", s)
    keys("b")
    found, s = wait_for("breakpoint on /")
    ok(found, "live: b sets a breakpoint on the node", s)
    keys("c")
    found, s = wait_until(lambda s: any("ran node" in l and "(MatMul)" in l for l in s.splitlines()))
    ok(found, "live: c continues to the breakpoint", s)
    keys("?")
    found, s = wait_for("mpdbg tui - keys")
    ok(found and "toggle a breakpoint" in s and "search nodes" in s, "live: ? lists the keys", s)
    keys("x")  # closes the help
    found, s = wait_for("q quit")
    tmux("resize-window", "-t", "t", "-x", "80", "-y", "24", check=False)
    time.sleep(0.5)
    found, s = wait_for("dtype trace")
    ok(found and "batch 2/4" in s and lines_fit(s, 80), "live: re-lays out at 80x24 on resize", s)
    keys("q")
    found, s = wait_for("EXIT=")
    ok(found and "EXIT=0" in s and "[live]" not in s, "live: q exits with status 0 and restores the terminal", s)


def test_mismatch():
    start(live_cmd("--policy", "bf16"), 80, 24)
    found, s = wait_for("stopped")
    ok(found and "dtype mismatch at node '/MatMul'" in s, "bf16: stops at the projection MatMul", s)
    ok("graph input 'camera_intrinsics'" in s and "/Add (Add)" in s and "/Transpose (Transpose)" in s,
       "bf16: both inputs' origins are shown", s)
    ok("!  MatMul" in s or "! MatMul" in s, "bf16: the node carries the mismatch flag", s)
    rows = s.splitlines()
    ok(len(rows) == 24 and lines_fit(s, 80) and "dtype trace" in s and "q quit" in rows[-1] and "mpdbg" in rows[0],
       "80x24: header, panes, trace and keys all on screen", s)
    keys("r")
    found, s = wait_for("rerun under policy")
    keys("bf16-autocast", "Enter")
    found, s = wait_for("rerun under bf16-autocast")
    ok(found and "policy bf16-autocast" in s and "done in" in s, "r reruns the batch under another policy", s)
    keys("q")
    found, s = wait_for("EXIT=")
    ok(found and "EXIT=0" in s, "bf16: q exits with status 0", s)


def test_replay(tmp):
    db = os.path.join(tmp, "cast.db")
    r = subprocess.run([MPDBG, "run", MODEL, "--data", DATA, "--glob", "batch_*", "--device", "cpu",
                        "--policy", "bf16", "--on-mismatch", "cast", "--session", db],
                       capture_output=True, text=True)
    if not ok(r.returncode == 0, "recording a --on-mismatch cast run"):
        print("# " + r.stderr.replace("\n", "\n# "))
        return
    # --data: the batch files lie outside the session's folder, where the
    # pictures (o, d) open them only when named
    start(" ".join([q(MPDBG), "tui", q(db), "--data", q(DATA)]), 100, 30)
    found, s = wait_for("[replay]")
    ok(found and "batch 1/4" in s, "replay: opens the recorded session", s)
    keys("F", "mismatch", "Enter")
    found, s = wait_for("filter 'mismatch'")
    flat = " ".join(s.split())
    ok(found and ("mismatch float32" in flat or "mismatch bfloat16" in flat),
       "replay: the dtype trace lists the casts of the mismatch", s)
    keys("Enter")
    found, s = wait_for("MatMul in")
    ok(found, "replay: Enter on a trace event jumps to its node", s)
    keys("n")
    found, s = wait_for("batch 2/4")
    ok(found, "replay: n moves to batch 2/4", s)
    keys("g", "1", "Enter")
    found, s = wait_for("batch 1/4")
    keys("c")  # from batch 1's MatMul (selected above): the next mismatch is batch 2's
    found, s = wait_for("a break condition holds")
    ok(found and "batch 2, node 276 /MatMul" in s and "batch 2/4" in s,
       "replay: c goes to the next node where a break condition holds", s)
    keys("o")
    found, s = wait_for("any key returns")
    ok(found and ".png" in s, "replay: o draws the batch's overlay and shows it", s)
    keys("x")
    found, s = wait_for("overlay of batch 2")
    ok(found, "replay: a key returns from the picture", s)
    keys("d")
    found, s = wait_for("any key returns")
    keys("x")
    found, s = wait_for("diversity: ")
    ok(found and "collapsed" in s, "replay: d shows the diversity analysis and its verdict", s)
    keys(":", "goto /MatMul", "Enter")
    found, s = wait_for("node ")
    keys("q")
    found, s = wait_for("EXIT=")
    ok(found and "EXIT=0" in s, "replay: q exits with status 0", s)


def test_demo():
    """The README's first command, as a new user meets it, at 80x24."""
    start("%s demo --device cpu" % q(MPDBG), 80, 24)
    found, s = wait_for("demo: bf16 joints meet fp32 intrinsics")
    ok(found and "dtype mismatch at node '/MatMul'" in s and "graph input 'camera_intrinsics'" in s and
       lines_fit(s, 80), "demo: opens at the projection mismatch with its guide, at 80x24", s)
    keys("r")
    found, s = wait_for("rerun under policy")
    keys("fp32", "Enter")
    found, s = wait_for("rerun under fp32")
    ok(found and "/backbone/patch_embed/Conv" in s and "mismatch bfloat16 float32" in " ".join(s.split()),
       "demo: r fp32 shows the bf16 image meeting the fp32 Conv", s)
    keys("q")
    found, s = wait_for("EXIT=")
    ok(found and "EXIT=0" in s, "demo: q exits with status 0", s)


def test_while_recording(tmp):
    """A session opened while `mpdbg run` still writes it grows as batches commit."""
    demo = os.path.join(ROOT, "examples", "demo")
    data = os.path.join(tmp, "many")
    os.makedirs(data, exist_ok=True)
    for i in range(60):  # the demo's four batches, many times over
        src = os.path.join(demo, "batches", "batch_%03d.safetensors" % (i % 4))
        os.symlink(src, os.path.join(data, "b%03d.safetensors" % i))
    db = os.path.join(tmp, "growing.db")
    run = subprocess.Popen([MPDBG, "run", os.path.join(demo, "demo.onnx"), "--data", data, "--device", "cpu",
                            "--compare", "fp32", "--session", db], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not os.path.exists(db) and time.time() - t0 < WAIT:
        time.sleep(0.05)
    time.sleep(0.3)
    start("%s tui %s" % (q(MPDBG), q(db)), 100, 30)
    found, s = wait_for("[recording]")
    first = s
    found2, s = wait_until(lambda s: "[replay]" in s and "batch 1/60" in s, timeout=WAIT * 3)
    run.wait()
    ok(found and found2, "a session still being recorded: opened as [recording], grows to all 60 batches", first + s)
    keys("q")
    wait_for("EXIT=")


def test_demo_no_terminal():
    r = subprocess.run([MPDBG, "demo", "--device", "cpu"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    ok(r.returncode == 0 and "not a terminal" in r.stdout and "batch_003" in r.stdout and "mismatch 1" in r.stderr,
       "demo without a terminal: runs the batches and says what it found")


def test_plain(tmp):
    """No UTF-8, no colour: ASCII lines and bars, symbols still there."""
    db = os.path.join(tmp, "plain.db")
    subprocess.run([MPDBG, "run", MODEL, "--data", DATA, "--glob", "batch_*", "--device", "cpu", "--policy", "bf16",
                    "--session", db], capture_output=True)
    tmux("kill-session", "-t", "t", check=False)
    shell = "LANG=C LC_ALL=C NO_COLOR=1 TERM=xterm %s tui %s; echo EXIT=$?; sleep 600" % (q(MPDBG), q(db))
    for attempt in range(50):
        if tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", shell, check=False).returncode == 0:
            break
        time.sleep(0.1)
    found, s = wait_for("[replay]")
    ok(found and "|" in s and "!" in s and all(ord(c) < 128 for c in s), "C locale, NO_COLOR: ASCII only, flags kept", s)
    keys("q")
    found, s = wait_for("EXIT=")
    ok(found and "EXIT=0" in s, "C locale: q exits with status 0", s)


def main():
    if not shutil.which("tmux"):
        print("1..0 # SKIP tmux is not installed")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            test_demo()
            test_demo_no_terminal()
            test_while_recording(tmp)
            if os.path.exists(MODEL):
                test_live()
                test_mismatch()
                test_replay(tmp)
                test_plain(tmp)
            else:
                print("# %s not found (../shared is not beside the checkout): the tests on it skip" % MODELS)
        finally:
            tmux("kill-server", check=False)
    print("1..%d" % n_test)
    return 1 if failed else 0


sys.exit(main())
