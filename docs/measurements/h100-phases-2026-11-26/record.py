import ctypes as C,time,threading,torch,os,sys
n=C.CDLL('libnvidia-ml.so.1');n.nvmlInit_v2();h=C.c_void_p();n.nvmlDeviceGetHandleByIndex_v2(0,C.byref(h))
class F(C.Structure):_fields_=[('f',C.c_uint),('s',C.c_uint),('t',C.c_longlong),('l',C.c_longlong),('vt',C.c_int),('r',C.c_int),('v',C.c_ulonglong)]
o=os.environ['OUT'];S=[];M=[];run=[1]
def samp():
 f=F();a=C.c_uint();e=C.c_ulonglong();tc=C.c_uint();d=time.monotonic_ns()
 while run[0]:
  d+=25000000;time.sleep(max(0,(d-time.monotonic_ns())/1e9));f.f=186;f.s=0
  n.nvmlDeviceGetFieldValues(h,1,C.byref(f));n.nvmlDeviceGetPowerUsage(h,C.byref(a));n.nvmlDeviceGetTotalEnergyConsumption(h,C.byref(e));n.nvmlDeviceGetTemperature(h,0,C.byref(tc))
  S.append((time.monotonic_ns(),(f.v&0xffffffff)/1e3 if f.r==0 else -1,a.value/1e3,e.value/1e3,tc.value))
def mk(k,p):M.append((time.monotonic_ns(),k,p))
th=threading.Thread(target=samp);th.start()
b=torch.randn(8192,8192,device='cuda',dtype=torch.bfloat16);w=torch.randn(16384,16384,device='cuda',dtype=torch.bfloat16);x=torch.randn(16,16384,device='cuda',dtype=torch.bfloat16)
(b@b).sum().item();(x@w).sum().item();torch.cuda.synchronize();time.sleep(4)
for r in range(4):
 mk('start','prefill');t=time.monotonic()
 while time.monotonic()-t<0.6:b@b;torch.cuda.synchronize()
 mk('end','prefill');mk('start','decode');t=time.monotonic()
 while time.monotonic()-t<4:x@w;torch.cuda.synchronize()
 mk('end','decode');time.sleep(2.5)
run[0]=0;th.join()
open(o+'/trace.csv','w').write('t_ns,instant_w,avg_w,energy_j,temp_c\n'+''.join('%d,%.3f,%.3f,%.3f,%d\n'%s for s in S))
open(o+'/markers.txt','w').write(''.join('%d %s %s\n'%m for m in M))
print(len(S),'samples',len(M),'markers',torch.cuda.get_device_name(0))
