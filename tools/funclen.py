import re,sys,os
# top-level function bodies: a line starting at column 0 with '{' after a signature
res=[]
for root in sys.argv[1:]:
  for dp,dn,fn in os.walk(root):
    for f in fn:
      if not f.endswith(('.c','.cu','.h','.cuh')): continue
      p=os.path.join(dp,f); L=open(p,errors='replace').read().split('\n')
      i=0
      while i<len(L):
        if L[i]=='{' and i>0:
          # find name in previous lines
          j=i-1; sig=L[j]
          while j>0 and '(' not in sig: j-=1; sig=L[j]+sig
          m=re.search(r'(\w+)\s*\(',sig)
          k=i+1
          while k<len(L) and L[k]!='}': k+=1
          n=k-i+1
          res.append((n,p,m.group(1) if m else '?',i+1))
          i=k
        i+=1
res.sort(reverse=True)
for n,p,name,ln in res:
  if n>int(os.environ.get('MIN','120')): print(n,p+':'+str(ln),name)
