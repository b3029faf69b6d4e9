/* jansson_private_config.h - what jansson's configure would find on a
 * glibc Linux, for building its sources into the fuzz targets
 * (-Djansson_src=...; tests/fuzz/README.md).  Its public
 * jansson_config.h is the system's (/usr/include), of the same version. */
#define HAVE_STDINT_H 1
#define HAVE_ENDIAN_H 1
#define HAVE_FCNTL_H 1
#define HAVE_SCHED_H 1
#define HAVE_UNISTD_H 1
#define HAVE_SYS_PARAM_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_GETTIMEOFDAY 1
#define HAVE_SCHED_YIELD 1
#define HAVE_ATOMIC_BUILTINS 1
#define HAVE_SYNC_BUILTINS 1
#define USE_URANDOM 1
#define HAVE_OPEN 1
#define HAVE_CLOSE 1
#define HAVE_READ 1
#define INITIAL_HASHTABLE_ORDER 3
