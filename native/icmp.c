// The ICMP listener's raw sockets (src/net/icmp-listener.ts) without raw-socket: one raw ICMP or ICMPv6 socket,
// polled on Node's own event loop (libuv), every queued packet read at each wake-up and handed to JavaScript as
// raw-socket hands it (IPv4 with its IP header, ICMPv6 without; the sender's address as text). Loading raw-socket's
// JavaScript wrapper and C++ addon is a few milliseconds of every probe's start; this addon is loaded anyway by
// sweeps, and is plain C.
//
// JS API:
//   icmpOpen(family 4|6, onPacket(packet: Buffer, source: string)) -> a receiver, or the errno opening failed with
//   icmpSend(receiver, packet: Buffer, address: string) -> 0, or the errno sendto failed with
//   icmpClose(receiver) -> undefined (again: nothing)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "icmp.h"

/* Packets read per wake-up at most, so a flood cannot starve the rest of the process (as raw-receiver.ts). */
#define ICMP_DRAIN_LIMIT 256
/* Kernel receive queue asked for: a burst of ICMP errors must not overflow it (as raw-receiver.ts). */
#define ICMP_QUEUE_BYTES (4 * 1024 * 1024)

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int fd;
  int family;
  int closed;      /* icmpClose ran (or the finalizer did its work) */
  int handle_done; /* libuv closed the poll handle */
  int unreachable; /* JavaScript holds the receiver no more (its finalizer ran) */
  uint8_t buffer[65536];
} Receiver;

/* Freed once libuv is done with the poll handle and JavaScript with the receiver, whichever comes last. */
static void handle_closed(uv_handle_t *handle) {
  Receiver *receiver = handle->data;
  close(receiver->fd);
  receiver->handle_done = 1;
  if (receiver->unreachable) free(receiver);
}

static void stop(napi_env env, Receiver *receiver) {
  if (receiver->closed) return;
  receiver->closed = 1;
  uv_poll_stop(&receiver->poll);
  napi_delete_reference(env, receiver->callback);
  napi_async_destroy(env, receiver->context);
  uv_close((uv_handle_t *)&receiver->poll, handle_closed);
}

static void finalize(napi_env env, void *data, void *hint) {
  Receiver *receiver = data;
  stop(env, receiver);
  receiver->unreachable = 1;
  if (receiver->handle_done) free(receiver);
}

/* Hand one packet to JavaScript; an exception it throws is the process's, as from any event. */
static void deliver(Receiver *receiver, size_t length, const struct sockaddr_storage *from) {
  napi_env env = receiver->env;
  char text[INET6_ADDRSTRLEN] = "";
  if (from->ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr, text, sizeof(text));
  else
    inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr, text, sizeof(text));
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value args[2], callback, receiver_object, result;
  void *copy;
  if (napi_create_buffer_copy(env, length, receiver->buffer, &copy, &args[0]) == napi_ok &&
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &args[1]) == napi_ok &&
      napi_get_reference_value(env, receiver->callback, &callback) == napi_ok &&
      napi_get_global(env, &receiver_object) == napi_ok) {
    if (napi_make_callback(env, receiver->context, receiver_object, callback, 2, args, &result) ==
        napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void readable(uv_poll_t *poll, int status, int events) {
  Receiver *receiver = poll->data;
  if (status < 0) return;
  for (int read = 0; read < ICMP_DRAIN_LIMIT && !receiver->closed; read++) {
    struct sockaddr_storage from;
    socklen_t length = sizeof(from);
    ssize_t bytes = recvfrom(receiver->fd, receiver->buffer, sizeof(receiver->buffer), MSG_DONTWAIT,
                             (struct sockaddr *)&from, &length);
    if (bytes < 0) return;
    deliver(receiver, (size_t)bytes, &from);
  }
}

static napi_value number(napi_env env, int value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

static Receiver *receiver_of(napi_env env, napi_value value) {
  Receiver *receiver = NULL;
  if (napi_get_value_external(env, value, (void **)&receiver) != napi_ok) return NULL;
  return receiver;
}

napi_value icmp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double family = 4;
  if (argc < 2 || napi_get_value_double(env, argv[0], &family) != napi_ok) {
    napi_throw_type_error(env, NULL, "icmpOpen(family, onPacket)");
    return NULL;
  }
  int v6 = family == 6;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
  if (fd < 0) return number(env, errno);
  /* SO_RCVBUF stops at net.core.rmem_max; SO_RCVBUFFORCE goes past it where the process may. Either failing
   * leaves the default queue, which still works. */
  int size = ICMP_QUEUE_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
  Receiver *receiver = calloc(1, sizeof(Receiver));
  uv_loop_t *loop = NULL;
  napi_value name, external;
  if (!receiver || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      napi_create_string_utf8(env, "reachgate-icmp", NAPI_AUTO_LENGTH, &name) != napi_ok) {
    free(receiver);
    close(fd);
    return number(env, ENOMEM);
  }
  receiver->env = env;
  receiver->fd = fd;
  receiver->family = v6 ? 6 : 4;
  if (napi_create_reference(env, argv[1], 1, &receiver->callback) != napi_ok ||
      napi_async_init(env, NULL, name, &receiver->context) != napi_ok || uv_poll_init(loop, &receiver->poll, fd) != 0) {
    if (receiver->callback) napi_delete_reference(env, receiver->callback);
    free(receiver);
    close(fd);
    return number(env, ENOMEM);
  }
  receiver->poll.data = receiver;
  uv_poll_start(&receiver->poll, UV_READABLE, readable);
  if (napi_create_external(env, receiver, finalize, NULL, &external) != napi_ok) {
    stop(env, receiver);
    receiver->unreachable = 1;
    return number(env, ENOMEM);
  }
  return external;
}

napi_value icmp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Receiver *receiver = argc == 3 ? receiver_of(env, argv[0]) : NULL;
  void *data;
  size_t length;
  char text[INET6_ADDRSTRLEN + 1];
  size_t text_length;
  if (!receiver || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok ||
      napi_get_value_string_utf8(env, argv[2], text, sizeof(text), &text_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "icmpSend(receiver, packet, address)");
    return NULL;
  }
  if (receiver->closed) return number(env, EBADF);
  struct sockaddr_storage to;
  memset(&to, 0, sizeof(to));
  socklen_t to_length;
  if (receiver->family == 6) {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&to;
    sa->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, text, &sa->sin6_addr) != 1) return number(env, EINVAL);
    to_length = sizeof(*sa);
  } else {
    struct sockaddr_in *sa = (struct sockaddr_in *)&to;
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, text, &sa->sin_addr) != 1) return number(env, EINVAL);
    to_length = sizeof(*sa);
  }
  ssize_t sent = sendto(receiver->fd, data, length, MSG_DONTWAIT, (struct sockaddr *)&to, to_length);
  return number(env, sent < 0 ? errno : 0);
}

napi_value icmp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Receiver *receiver = argc == 1 ? receiver_of(env, argv[0]) : NULL;
  if (receiver) stop(env, receiver);
  return NULL;
}
