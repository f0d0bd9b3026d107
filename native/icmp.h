// The ICMP receiver of native/icmp.c, registered by native/sweep.c's init.
#ifndef REACHGATE_ICMP_H
#define REACHGATE_ICMP_H
#include <node_api.h>

napi_value icmp_open(napi_env env, napi_callback_info info);
napi_value icmp_send(napi_env env, napi_callback_info info);
napi_value icmp_close(napi_env env, napi_callback_info info);

#endif
