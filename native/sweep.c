// reachgate's native sweep engine (issue 12): the hot loop of a sweep of TCP ports that needs only each port's
// state, off the JavaScript thread. Two modes:
//   connect: non-blocking connect(2) per port under epoll, up to `concurrency` in flight, a deadline per probe;
//   syn:     SYNs from raw sockets in batches (sendmmsg) at a bounded rate, answers read from raw TCP and ICMP
//            sockets and matched without per-probe state by a keyed cookie in the sequence number (the scheme of
//            src/net/tcp-segment.ts SynCookies; JavaScript derives each address's subkey, this file mixes the ports).
// Results go back to JavaScript in batches of compact rows through a thread-safe function; JavaScript builds the
// results (states, reasons, evidence) with the same classification code as its own probes.
//
// JS API (src/net/sweep-engine.ts):
//   sweep(job, onBatch) -> undefined
//     job: { mode: 0 connect | 1 syn, family: Uint8Array (4|6 per address), address: Uint8Array (16 per address),
//            entryAddress: Uint32Array, entryPort: Uint16Array, entryTimeout: Uint32Array (ms),
//            entryAttempts: Uint8Array, concurrency, rate (per second, 0 none), batch, keys: Uint32Array (4 per
//            address, syn), sourcePort, sourcePorts (syn: the job's block of source ports; attempt n of a probe goes
//            out from sourcePort + n mod sourcePorts, and an answer to any port of the block counts; acceptLow,
//            acceptHigh: the ports an answer may come back to instead, when the job shares its key with earlier jobs
//            whose late answers count) }
//     onBatch(rows: Float64Array | null, icmp: Uint8Array | null, error: string | null): rows of ROW_WIDTH doubles
//       [entry, code | attempts << 8 | localPort << 16, errno (or the ICMP record's offset), rtt ms]; null rows: done.
//   rawAvailable(family) -> 0, or the errno opening a raw TCP socket of that family failed with.
//   icmpOpen, icmpSend, icmpClose: the ICMP listener's raw sockets (native/icmp.c).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "icmp.h"

#define ROW_WIDTH 5
enum { CODE_ANSWERED = 0, CODE_RESET = 1, CODE_ERRNO = 2, CODE_SILENT = 3, CODE_ICMP = 4, CODE_SELF = 5, CODE_SEND = 6 };
enum { MODE_CONNECT = 0, MODE_SYN = 1 };
/* Rows wait at most this long for JavaScript: a round's rows are taken while its last deadlines still run. */
#define FLUSH_NS 5000000ull
#define MAX_EVENTS 1024
#define ICMP_QUOTE_MAX 600
#define RECEIVE_BUFFER (32 * 1024 * 1024)
#define BUSY_RETRIES 50
#define SEND_BATCH 64
#define RECV_BATCH 64
#define DRAIN_LIMIT 8192
/* Batches handed over that JavaScript has not taken yet, at most (see flush). */
#define QUEUED 2

typedef struct {
  double *rows;
  uint32_t count, capacity;
  uint8_t *icmp;
  size_t icmp_len, icmp_cap;
  int done;
  char error[200];
} Batch;

typedef struct {
  int mode;
  uint32_t addresses, entries;
  uint8_t *family;
  uint8_t *address; /* 16 bytes per address */
  uint32_t *entry_address;
  uint16_t *entry_port;
  uint32_t *entry_timeout;
  uint8_t *entry_attempts;
  uint32_t *keys; /* 4 per address */
  uint32_t concurrency, batch_size;
  double rate;
  uint16_t source_port;  /* the first of the job's source ports (syn) */
  uint16_t source_ports; /* how many: attempt n of a probe goes out from source_port + n mod source_ports */
  uint16_t accept_low, accept_high; /* the source ports an answer may come back to (with its cookie) */
  napi_threadsafe_function tsfn;
  Batch *batch;
  uint64_t last_flush;
  uint64_t started_ns; /* rows give each probe's start from here */
  char error[200];
} Job;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- batches back to JavaScript ---- */

static Batch *batch_new(uint32_t size) {
  Batch *batch = calloc(1, sizeof(Batch));
  if (batch) batch->rows = malloc(sizeof(double) * ROW_WIDTH * (size ? size : 1));
  if (batch) batch->capacity = size ? size : 1;
  if (batch && !batch->rows) {
    free(batch);
    return NULL;
  }
  return batch;
}

static void batch_free(Batch *batch) {
  if (!batch) return;
  free(batch->rows);
  free(batch->icmp);
  free(batch);
}

/*
 * Hand the rows gathered so far to JavaScript. When JavaScript is behind (QUEUED batches wait already), the rows stay
 * here and the batch grows: the sweep never waits for JavaScript, and what waits is 40 bytes a probe, not objects.
 */
static void flush(Job *job) {
  Batch *batch = job->batch;
  job->last_flush = now_ns();
  if (!batch || batch->count == 0) return;
  napi_status status = napi_call_threadsafe_function(job->tsfn, batch, napi_tsfn_nonblocking);
  if (status == napi_queue_full) return;
  if (status != napi_ok) batch_free(batch);
  job->batch = batch_new(job->batch_size);
}

/* Keep room for one more row; false when memory ran out (the row is then lost, the sweep goes on). */
static int room(Job *job) {
  if (!job->batch) job->batch = batch_new(job->batch_size);
  if (!job->batch) return 0;
  if (job->batch->count >= job->batch_size && job->batch->count % job->batch_size == 0) flush(job);
  Batch *batch = job->batch;
  if (batch && batch->count >= batch->capacity) {
    double *grown = realloc(batch->rows, sizeof(double) * ROW_WIDTH * batch->capacity * 2);
    if (!grown) return 0;
    batch->rows = grown;
    batch->capacity *= 2;
  }
  return job->batch != NULL;
}

static void emit(Job *job, uint32_t entry, int code, int attempts, int local_port, double error, double rtt_ms,
                 uint64_t started) {
  if (!room(job)) return;
  double *row = job->batch->rows + (size_t)job->batch->count * ROW_WIDTH;
  row[0] = entry;
  row[1] = code + attempts * 256.0 + local_port * 65536.0;
  row[2] = error;
  row[3] = rtt_ms;
  row[4] = started > job->started_ns ? (double)(started - job->started_ns) / 1e6 : 0;
  job->batch->count++;
}

/* An ICMP error as the raw socket read it, kept for JavaScript's parser: [family][source 16][length u16 LE][bytes]. */
static void emit_icmp(Job *job, uint32_t entry, int attempts, int family, const uint8_t *source, const uint8_t *packet,
                      size_t length, double rtt_ms, uint64_t started) {
  if (!room(job)) return;
  Batch *batch = job->batch;
  if (length > ICMP_QUOTE_MAX) length = ICMP_QUOTE_MAX;
  size_t need = batch->icmp_len + 19 + length;
  if (need > batch->icmp_cap) {
    size_t cap = batch->icmp_cap ? batch->icmp_cap * 2 : 4096;
    while (cap < need) cap *= 2;
    uint8_t *grown = realloc(batch->icmp, cap);
    if (!grown) return;
    batch->icmp = grown;
    batch->icmp_cap = cap;
  }
  size_t at = batch->icmp_len;
  batch->icmp[at] = (uint8_t)family;
  memcpy(batch->icmp + at + 1, source, 16);
  batch->icmp[at + 17] = (uint8_t)(length & 0xff);
  batch->icmp[at + 18] = (uint8_t)(length >> 8);
  memcpy(batch->icmp + at + 19, packet, length);
  batch->icmp_len = need;
  emit(job, entry, CODE_ICMP, attempts, 0, (double)at, rtt_ms, started);
}

/* ---- a min-heap of timed events: (time, entry, what) ---- */

typedef struct {
  uint64_t at;
  uint32_t entry;
  uint32_t what; /* connect: the slot generation; syn: 0 deadline, n the n-th send */
} Event;

typedef struct {
  Event *items;
  size_t size, cap;
} Heap;

static int heap_push(Heap *heap, Event event) {
  if (heap->size == heap->cap) {
    size_t cap = heap->cap ? heap->cap * 2 : 1024;
    Event *grown = realloc(heap->items, cap * sizeof(Event));
    if (!grown) return 0;
    heap->items = grown;
    heap->cap = cap;
  }
  size_t i = heap->size++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap->items[parent].at <= event.at) break;
    heap->items[i] = heap->items[parent];
    i = parent;
  }
  heap->items[i] = event;
  return 1;
}

static Event heap_pop(Heap *heap) {
  Event top = heap->items[0];
  Event last = heap->items[--heap->size];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= heap->size) break;
    if (child + 1 < heap->size && heap->items[child + 1].at < heap->items[child].at) child++;
    if (last.at <= heap->items[child].at) break;
    heap->items[i] = heap->items[child];
    i = child;
  }
  if (heap->size > 0) heap->items[i] = last;
  return top;
}

static int wait_ms(uint64_t until, uint64_t now) {
  if (until <= now) return 0;
  uint64_t ms = (until - now + 999999ull) / 1000000ull;
  return ms > 60000 ? 60000 : (int)ms;
}

/* Paces first sends at `rate` per second: the time the next may start. */
typedef struct {
  double interval_ns;
  double next;
} Pace;

static int pace_ready(Pace *pace, uint64_t now) {
  if (pace->interval_ns <= 0) return 1;
  if (pace->next <= (double)now) return 1;
  return 0;
}

/* Sends that fell behind (the loop sleeps in whole milliseconds) catch up, within this much. */
#define PACE_CATCH_UP_NS 2e6

static void pace_take(Pace *pace, uint64_t now) {
  if (pace->interval_ns <= 0) return;
  double floor = (double)now - (pace->interval_ns > PACE_CATCH_UP_NS ? pace->interval_ns : PACE_CATCH_UP_NS);
  double start = pace->next > floor ? pace->next : floor;
  pace->next = start + pace->interval_ns;
}

static void fill_sockaddr(const Job *job, uint32_t address, uint16_t port, struct sockaddr_storage *out,
                          socklen_t *length) {
  memset(out, 0, sizeof(*out));
  if (job->family[address] == 6) {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)out;
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    memcpy(&sa->sin6_addr, job->address + (size_t)address * 16, 16);
    *length = sizeof(*sa);
  } else {
    struct sockaddr_in *sa = (struct sockaddr_in *)out;
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    memcpy(&sa->sin_addr, job->address + (size_t)address * 16, 4);
    *length = sizeof(*sa);
  }
}

/* ---- connect mode ---- */

typedef struct {
  int fd;
  uint32_t entry;
  uint32_t generation;
  uint64_t started;
} Slot;

/* The local port of a socket, and whether it connected to itself (the kernel gave it the target port). */
static int local_port(int fd, const Job *job, uint32_t entry, int *self) {
  struct sockaddr_storage local;
  socklen_t length = sizeof(local);
  *self = 0;
  if (getsockname(fd, (struct sockaddr *)&local, &length) != 0) return 0;
  uint32_t address = job->entry_address[entry];
  uint16_t port = job->entry_port[entry];
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&local;
    int mine = ntohs(sa->sin6_port);
    *self = mine == port && memcmp(&sa->sin6_addr, job->address + (size_t)address * 16, 16) == 0;
    return mine;
  }
  struct sockaddr_in *sa = (struct sockaddr_in *)&local;
  int mine = ntohs(sa->sin_port);
  *self = mine == port && memcmp(&sa->sin_addr, job->address + (size_t)address * 16, 4) == 0;
  return mine;
}

static void finish_connect(Job *job, Slot *slot, int error, uint64_t now) {
  double rtt = (double)(now - slot->started) / 1e6;
  int self = 0;
  int port = local_port(slot->fd, job, slot->entry, &self);
  if (error == 0)
    emit(job, slot->entry, self ? CODE_SELF : CODE_ANSWERED, 1, port, 0, rtt, slot->started);
  else
    emit(job, slot->entry, CODE_ERRNO, 1, port, error, rtt, slot->started);
  close(slot->fd);
  slot->fd = -1;
  slot->generation++;
}

typedef struct {
  Job *job;
  Slot *slots;
  uint32_t *free_slots;
  uint32_t free_count, in_flight;
  int backoff; /* out of file descriptors: wait for a probe in flight to finish */
} Connects;

static void connect_done(Connects *c, uint32_t index) {
  c->free_slots[c->free_count++] = index;
  c->in_flight--;
  c->backoff = 0;
}

/* Sockets epoll says are writable: connected, or failed with the errno SO_ERROR holds. */
static void connect_ready(Connects *c, const struct epoll_event *events, int ready, uint64_t now) {
  for (int i = 0; i < ready; i++) {
    uint32_t index = (uint32_t)events[i].data.u64;
    uint32_t generation = (uint32_t)(events[i].data.u64 >> 32);
    Slot *slot = &c->slots[index];
    if (slot->fd < 0 || slot->generation != generation) continue;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error == EINPROGRESS || error == EALREADY) continue;
    finish_connect(c->job, slot, error, now);
    connect_done(c, index);
  }
}

/* Start one connect; false when it must wait (out of file descriptors while others are in flight). */
static int connect_start(Connects *c, int epfd, Heap *heap, uint32_t entry) {
  Job *job = c->job;
  uint32_t address = job->entry_address[entry];
  int fd = socket(job->family[address] == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) && c->in_flight > 0) return 0;
    emit(job, entry, CODE_ERRNO, 1, 0, errno, 0, now_ns());
    return 1;
  }
  struct sockaddr_storage sa;
  socklen_t length;
  fill_sockaddr(job, address, job->entry_port[entry], &sa, &length);
  uint32_t index = c->free_slots[--c->free_count];
  Slot *slot = &c->slots[index];
  slot->fd = fd;
  slot->entry = entry;
  c->in_flight++;
  slot->started = now_ns();
  int status = connect(fd, (struct sockaddr *)&sa, length);
  if (status == 0 || errno != EINPROGRESS) {
    /* Answered at once (loopback), or refused by the kernel itself (no route, a local filter). */
    finish_connect(job, slot, status == 0 ? 0 : errno, now_ns());
    connect_done(c, index);
    return 1;
  }
  struct epoll_event event = {.events = EPOLLOUT, .data.u64 = ((uint64_t)slot->generation << 32) | index};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) != 0 ||
      !heap_push(heap, (Event){slot->started + (uint64_t)job->entry_timeout[entry] * 1000000ull, index,
                               slot->generation})) {
    finish_connect(job, slot, errno ? errno : ENOMEM, now_ns());
    connect_done(c, index);
  }
  return 1;
}

static void run_connect(Job *job) {
  uint32_t count = job->concurrency < job->entries ? job->concurrency : job->entries;
  if (count == 0) count = 1;
  Connects c = {.job = job, .slots = calloc(count, sizeof(Slot)), .free_slots = malloc(sizeof(uint32_t) * count)};
  struct epoll_event *events = malloc(sizeof(struct epoll_event) * MAX_EVENTS);
  Heap heap = {0};
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!c.slots || !c.free_slots || !events || epfd < 0) {
    snprintf(job->error, sizeof(job->error), "the sweep engine could not start: %s", strerror(errno ? errno : ENOMEM));
    goto out;
  }
  for (uint32_t i = 0; i < count; i++) {
    c.slots[i].fd = -1;
    c.free_slots[c.free_count++] = count - 1 - i;
  }
  Pace pace = {job->rate > 0 ? 1e9 / job->rate : 0, 0};
  uint32_t next = 0;
  job->last_flush = now_ns();
  while (next < job->entries || c.in_flight > 0) {
    uint64_t now = now_ns();
    while (next < job->entries && c.free_count > 0 && !c.backoff && pace_ready(&pace, now)) {
      if (!connect_start(&c, epfd, &heap, next)) {
        c.backoff = 1;
        break;
      }
      next++;
      pace_take(&pace, now);
      now = now_ns();
    }
    if (now - job->last_flush >= FLUSH_NS) flush(job);
    if (c.in_flight == 0 && next >= job->entries) break;
    uint64_t until = now + 1000000000ull;
    if (heap.size > 0 && heap.items[0].at < until) until = heap.items[0].at;
    if (next < job->entries && c.free_count > 0 && !c.backoff && pace.next < (double)until) until = (uint64_t)pace.next;
    if (job->batch && job->batch->count > 0 && job->last_flush + FLUSH_NS < until) until = job->last_flush + FLUSH_NS;
    int ready = epoll_wait(epfd, events, MAX_EVENTS, wait_ms(until, now));
    if (ready > 0) connect_ready(&c, events, ready, now_ns());
    now = now_ns();
    if (heap.size > 0 && heap.items[0].at <= now) {
      /* Answers already queued are read before a deadline concludes silence: a late wake-up cannot turn one. */
      while ((ready = epoll_wait(epfd, events, MAX_EVENTS, 0)) > 0) {
        connect_ready(&c, events, ready, now);
        if (ready < MAX_EVENTS) break;
      }
      while (heap.size > 0 && heap.items[0].at <= now) {
        Event event = heap_pop(&heap);
        Slot *slot = &c.slots[event.entry];
        if (slot->fd < 0 || slot->generation != event.what) continue;
        emit(job, slot->entry, CODE_SILENT, 1, 0, 0, (double)(now - slot->started) / 1e6, slot->started);
        close(slot->fd);
        slot->fd = -1;
        slot->generation++;
        connect_done(&c, event.entry);
      }
    }
    if (c.backoff && c.in_flight == 0) c.backoff = 0;
  }
out:
  if (epfd >= 0) close(epfd);
  if (c.slots)
    for (uint32_t i = 0; i < count; i++)
      if (c.slots[i].fd >= 0) close(c.slots[i].fd);
  free(c.slots);
  free(c.free_slots);
  free(events);
  free(heap.items);
}

/* ---- SYN mode ---- */

#define SYN_LENGTH 24

static uint32_t imul(uint32_t a, uint32_t b) { return a * b; }

/* The cookie of src/net/tcp-segment.ts SynCookies.cookie, with the address's subkey from JavaScript. */
static uint32_t cookie(const uint32_t *key, uint16_t port, uint16_t local_port) {
  uint32_t h = key[0] ^ (((uint32_t)port << 16) | local_port);
  h = imul(h ^ (h >> 16), 0x85ebca6bu ^ key[1]);
  h = imul(h ^ (h >> 13), 0xc2b2ae35u ^ key[2]);
  return h ^ (h >> 16) ^ key[3];
}

static uint32_t ones_sum(const uint8_t *bytes, size_t length, uint32_t sum) {
  for (size_t i = 0; i + 1 < length; i += 2) sum += ((uint32_t)bytes[i] << 8) | bytes[i + 1];
  if (length & 1) sum += (uint32_t)bytes[length - 1] << 8;
  return sum;
}

/* A SYN with an MSS option, as src/net/tcp-segment.ts buildSyn; the IPv4 checksum over the pseudo-header. */
static void build_syn(uint8_t *segment, uint16_t source_port, uint16_t port, uint32_t sequence, const uint8_t *source4,
                      const uint8_t *destination4) {
  memset(segment, 0, SYN_LENGTH);
  segment[0] = source_port >> 8;
  segment[1] = source_port & 0xff;
  segment[2] = port >> 8;
  segment[3] = port & 0xff;
  segment[4] = sequence >> 24;
  segment[5] = (sequence >> 16) & 0xff;
  segment[6] = (sequence >> 8) & 0xff;
  segment[7] = sequence & 0xff;
  segment[12] = (SYN_LENGTH / 4) << 4;
  segment[13] = 0x02;
  segment[14] = 1024 >> 8;
  segment[15] = 1024 & 0xff;
  segment[20] = 2;
  segment[21] = 4;
  segment[22] = 0x05;
  segment[23] = 0xb4;
  if (source4) {
    uint8_t pseudo[12] = {0};
    memcpy(pseudo, source4, 4);
    memcpy(pseudo + 4, destination4, 4);
    pseudo[9] = 6;
    pseudo[11] = SYN_LENGTH;
    uint32_t sum = ones_sum(pseudo, 12, 0);
    sum = ones_sum(segment, SYN_LENGTH, sum);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t checksum = ~sum & 0xffff;
    segment[16] = checksum >> 8;
    segment[17] = checksum & 0xff;
  }
}

/* Entries by (address, port), and addresses by their bytes: open addressing, for matching answers. */
typedef struct {
  uint32_t *slots; /* entry + 1; 0 empty */
  uint32_t mask;
} EntryTable;

static uint32_t mix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  return h ^ (h >> 16);
}

static uint32_t address_hash(const uint8_t *bytes) {
  uint32_t h = 0x9e3779b9u;
  for (int i = 0; i < 16; i += 4) h = mix(h ^ ((uint32_t)bytes[i] << 24 | bytes[i + 1] << 16 | bytes[i + 2] << 8 | bytes[i + 3]));
  return h;
}

typedef struct {
  Job *job;
  int raw[2], icmp[2]; /* [0] IPv4, [1] IPv6 */
  uint8_t *source4;    /* 4 bytes per address: the route's source, for the IPv4 checksum */
  uint8_t *sent;       /* SYNs sent per entry */
  uint8_t *done;
  uint64_t *last_send;
  uint64_t *first_send;
  EntryTable entries;
  uint32_t *address_slots; /* address + 1 */
  uint32_t address_mask;
  Heap heap;
  uint32_t in_flight;
} Syn;

static int find_address(const Syn *syn, const uint8_t *bytes16) {
  uint32_t i = address_hash(bytes16) & syn->address_mask;
  for (;;) {
    uint32_t slot = syn->address_slots[i];
    if (slot == 0) return -1;
    if (memcmp(syn->job->address + (size_t)(slot - 1) * 16, bytes16, 16) == 0) return (int)(slot - 1);
    i = (i + 1) & syn->address_mask;
  }
}

static void open_raw(Syn *syn, int family_index, int *error) {
  int family = family_index ? AF_INET6 : AF_INET;
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    *error = errno;
    return;
  }
  int size = RECEIVE_BUFFER;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (family_index) {
    int offset = 16; /* the kernel writes the TCP checksum there (RFC 3542 3.1) */
    setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset, sizeof(offset));
  }
  syn->raw[family_index] = fd;
  int icmp = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, family_index ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
  if (icmp >= 0) setsockopt(icmp, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  syn->icmp[family_index] = icmp;
}

/* The source address the kernel picks towards an IPv4 address (a connected UDP socket; nothing is sent). */
static int route_source(const uint8_t *destination, uint8_t *source) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9)};
  memcpy(&sa.sin_addr, destination, 4);
  int error = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    error = errno;
  } else {
    struct sockaddr_in local;
    socklen_t length = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &length) != 0)
      error = errno;
    else
      memcpy(source, &local.sin_addr, 4);
  }
  close(fd);
  return error;
}

static void syn_settle(Syn *syn, uint32_t entry) {
  syn->done[entry] = 1;
  syn->in_flight--;
}

/*
 * The next entry for (address, port) that has a SYN out and no answer yet, walking the entry table from *at (the
 * key's slot first, then linear probing): 1 with *entry set and *at past it, 0 at the first empty slot. More than one
 * entry can name the same port of an address (a plan may list it twice): each gets the answer.
 */
static int next_pending(const Syn *syn, uint32_t address, uint16_t port, uint32_t *at, uint32_t *entry) {
  for (;; *at = (*at + 1) & syn->entries.mask) {
    uint32_t slot = syn->entries.slots[*at];
    if (slot == 0) return 0;
    uint32_t candidate = slot - 1;
    if (syn->job->entry_address[candidate] != address || syn->job->entry_port[candidate] != port) continue;
    if (syn->done[candidate] || syn->sent[candidate] == 0) continue;
    *entry = candidate;
    *at = (*at + 1) & syn->entries.mask;
    return 1;
  }
}

/* A segment a raw TCP socket read: a SYN-ACK or a reset answering one of our SYNs, or anyone else's traffic. */
static void syn_segment(Syn *syn, int v6, const uint8_t *packet, size_t length, const struct sockaddr_storage *from,
                        uint64_t now) {
  size_t at = 0;
  uint8_t source[16] = {0};
  if (!v6) {
    if (length < 20 || packet[9] != 6) return;
    at = (size_t)(packet[0] & 0x0f) * 4;
    memcpy(source, packet + 12, 4);
  } else {
    memcpy(source, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
  }
  if (length < at + 20) return;
  const uint8_t *tcp = packet + at;
  uint16_t sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
  uint16_t dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
  uint8_t flags = tcp[13];
  if (dport < syn->job->accept_low || dport > syn->job->accept_high || !(flags & 0x10)) return;
  int syn_ack = (flags & (0x02 | 0x04)) == 0x02;
  if (!syn_ack && !(flags & 0x04)) return;
  int address = find_address(syn, source);
  if (address < 0 || syn->job->family[address] != (v6 ? 6 : 4)) return;
  uint32_t ack = (uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 | (uint32_t)tcp[10] << 8 | tcp[11];
  /* Any attempt's port: the target's late SYN-ACK to an earlier attempt still says the port answers. */
  if (ack - 1 != cookie(syn->job->keys + (size_t)address * 4, sport, dport)) return;
  uint32_t probe_at = mix((uint32_t)address << 16 | sport) & syn->entries.mask, entry;
  while (next_pending(syn, (uint32_t)address, sport, &probe_at, &entry)) {
    emit(syn->job, entry, syn_ack ? CODE_ANSWERED : CODE_RESET, syn->sent[entry], 0, 0,
         (double)(now - syn->last_send[entry]) / 1e6, syn->first_send[entry]);
    syn_settle(syn, entry);
  }
}

/* An ICMP error quoting one of our SYNs (its sequence is the cookie): prohibited, unreachable, time exceeded. */
static void syn_icmp(Syn *syn, int v6, const uint8_t *packet, size_t length, const struct sockaddr_storage *from,
                     uint64_t now) {
  size_t at = 0;
  uint8_t source[16] = {0};
  if (!v6) {
    if (length < 20) return;
    at = (size_t)(packet[0] & 0x0f) * 4;
    memcpy(source, packet + 12, 4);
    if (length < at + 8) return;
    if (packet[at] != 3 && packet[at] != 11) return;
  } else {
    memcpy(source, &((const struct sockaddr_in6 *)from)->sin6_addr, 16);
    if (length < 8) return;
    if (packet[0] != 1 && packet[0] != 3) return;
  }
  size_t quoted = at + 8;
  uint8_t destination[16] = {0};
  size_t transport;
  if (!v6) {
    if (length < quoted + 20 || packet[quoted + 9] != 6) return;
    memcpy(destination, packet + quoted + 16, 4);
    transport = quoted + (size_t)(packet[quoted] & 0x0f) * 4;
  } else {
    if (length < quoted + 40 || packet[quoted + 6] != 6) return;
    memcpy(destination, packet + quoted + 24, 16);
    transport = quoted + 40;
  }
  if (length < transport + 8) return;
  const uint8_t *tcp = packet + transport;
  uint16_t sport = (uint16_t)(tcp[0] << 8 | tcp[1]);
  uint16_t dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
  uint32_t sequence = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
  if (sport < syn->job->accept_low || sport > syn->job->accept_high) return;
  int address = find_address(syn, destination);
  if (address < 0 || syn->job->family[address] != (v6 ? 6 : 4)) return;
  if (sequence != cookie(syn->job->keys + (size_t)address * 4, dport, sport)) return;
  uint32_t probe_at = mix((uint32_t)address << 16 | dport) & syn->entries.mask, entry;
  while (next_pending(syn, (uint32_t)address, dport, &probe_at, &entry)) {
    emit_icmp(syn->job, entry, syn->sent[entry], v6 ? 6 : 4, source, packet, length,
              (double)(now - syn->last_send[entry]) / 1e6, syn->first_send[entry]);
    syn_settle(syn, entry);
  }
}

static void syn_drain(Syn *syn, int fd, int v6, int icmp, uint64_t limit) {
  static __thread uint8_t buffers[RECV_BATCH][2048];
  struct mmsghdr messages[RECV_BATCH];
  struct iovec vectors[RECV_BATCH];
  struct sockaddr_storage names[RECV_BATCH];
  for (uint64_t read = 0; read < limit;) {
    for (int i = 0; i < RECV_BATCH; i++) {
      vectors[i] = (struct iovec){buffers[i], sizeof(buffers[i])};
      messages[i].msg_hdr = (struct msghdr){.msg_name = &names[i], .msg_namelen = sizeof(names[i]),
                                            .msg_iov = &vectors[i], .msg_iovlen = 1};
    }
    int count = recvmmsg(fd, messages, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (count <= 0) return;
    uint64_t now = now_ns();
    for (int i = 0; i < count; i++) {
      if (icmp)
        syn_icmp(syn, v6, buffers[i], messages[i].msg_len, &names[i], now);
      else
        syn_segment(syn, v6, buffers[i], messages[i].msg_len, &names[i], now);
    }
    read += (uint64_t)count;
    if (count < RECV_BATCH) return;
  }
}

static void syn_read_all(Syn *syn) {
  for (int f = 0; f < 2; f++) {
    if (syn->raw[f] >= 0) syn_drain(syn, syn->raw[f], f, 0, DRAIN_LIMIT);
    if (syn->icmp[f] >= 0) syn_drain(syn, syn->icmp[f], f, 1, DRAIN_LIMIT);
  }
}

/* Queued SYNs of one family, sent together. */
typedef struct {
  struct mmsghdr messages[SEND_BATCH];
  struct iovec vectors[SEND_BATCH];
  struct sockaddr_storage names[SEND_BATCH];
  uint8_t segments[SEND_BATCH][SYN_LENGTH];
  uint32_t entries[SEND_BATCH];
  int count;
} SendQueue;

static void syn_flush_sends(Syn *syn, SendQueue *queue, int v6) {
  int fd = syn->raw[v6];
  int at = 0, busy = 0;
  while (at < queue->count) {
    int sent = sendmmsg(fd, queue->messages + at, (unsigned)(queue->count - at), 0);
    if (sent > 0) {
      at += sent;
      busy = 0;
      continue;
    }
    int error = errno;
    if ((error == ENOBUFS || error == EAGAIN) && busy < BUSY_RETRIES) {
      busy++;
      struct timespec pause = {0, 1000000};
      nanosleep(&pause, NULL);
      syn_read_all(syn);
      continue;
    }
    /* This SYN cannot leave (no route, a local filter): its probe ends with the errno, the rest go on. */
    uint32_t entry = queue->entries[at];
    if (!syn->done[entry]) {
      emit(syn->job, entry, CODE_SEND, syn->sent[entry], 0, error, (double)(now_ns() - syn->last_send[entry]) / 1e6,
           syn->first_send[entry]);
      syn_settle(syn, entry);
    }
    at++;
    busy = 0;
  }
  queue->count = 0;
}

static void syn_queue(Syn *syn, SendQueue *queues, uint32_t entry, uint64_t now) {
  Job *job = syn->job;
  uint32_t address = job->entry_address[entry];
  int v6 = job->family[address] == 6;
  SendQueue *queue = &queues[v6];
  if (queue->count == SEND_BATCH) syn_flush_sends(syn, queue, v6);
  if (syn->done[entry]) return;
  int i = queue->count++;
  uint16_t port = job->entry_port[entry];
  /* Each attempt from a port of its own: a fresh 4-tuple, so a target that lost its SYN-ACK to an earlier attempt
     (and keeps that one half-open, answering its repeats at most twice a second) answers this one as any SYN. */
  uint16_t source = (uint16_t)(job->source_port + syn->sent[entry] % job->source_ports);
  build_syn(queue->segments[i], source, port, cookie(job->keys + (size_t)address * 4, port, source),
            v6 ? NULL : syn->source4 + (size_t)address * 4, job->address + (size_t)address * 16);
  socklen_t length;
  fill_sockaddr(job, address, 0, &queue->names[i], &length);
  queue->vectors[i] = (struct iovec){queue->segments[i], SYN_LENGTH};
  queue->messages[i].msg_hdr =
      (struct msghdr){.msg_name = &queue->names[i], .msg_namelen = length, .msg_iov = &queue->vectors[i], .msg_iovlen = 1};
  queue->entries[i] = entry;
  if (syn->sent[entry] == 0) syn->first_send[entry] = now;
  syn->sent[entry]++;
  syn->last_send[entry] = now;
}

/* When the n-th of `attempts` SYNs leaves, from the first: as src/net/udp-exchange.ts sendTimes. */
static uint64_t send_offset_ns(uint32_t timeout_ms, int attempts, int n) {
  double slots = (double)(1ull << attempts);
  return (uint64_t)((double)timeout_ms * 1e6 * (double)((1ull << n) - 1) / slots);
}

static void run_syn(Job *job) {
  Syn syn = {.job = job, .raw = {-1, -1}, .icmp = {-1, -1}};
  SendQueue *queues = calloc(2, sizeof(SendQueue));
  syn.source4 = calloc(job->addresses ? job->addresses : 1, 4);
  syn.sent = calloc(job->entries ? job->entries : 1, 1);
  syn.done = calloc(job->entries ? job->entries : 1, 1);
  syn.last_send = calloc(job->entries ? job->entries : 1, sizeof(uint64_t));
  syn.first_send = calloc(job->entries ? job->entries : 1, sizeof(uint64_t));
  uint32_t size = 1;
  while (size < job->entries * 2 + 2) size <<= 1;
  syn.entries.slots = calloc(size, sizeof(uint32_t));
  syn.entries.mask = size - 1;
  uint32_t address_size = 1;
  while (address_size < job->addresses * 2 + 2) address_size <<= 1;
  syn.address_slots = calloc(address_size, sizeof(uint32_t));
  syn.address_mask = address_size - 1;
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!queues || !syn.source4 || !syn.sent || !syn.done || !syn.last_send || !syn.first_send || !syn.entries.slots || !syn.address_slots ||
      epfd < 0) {
    snprintf(job->error, sizeof(job->error), "the sweep engine could not start: %s", strerror(errno ? errno : ENOMEM));
    goto out;
  }
  int needs[2] = {0, 0};
  for (uint32_t a = 0; a < job->addresses; a++) {
    uint32_t i = address_hash(job->address + (size_t)a * 16) & syn.address_mask;
    while (syn.address_slots[i]) i = (i + 1) & syn.address_mask;
    syn.address_slots[i] = a + 1;
    needs[job->family[a] == 6] = 1;
  }
  for (uint32_t e = 0; e < job->entries; e++) {
    uint32_t i = mix((uint32_t)job->entry_address[e] << 16 | job->entry_port[e]) & syn.entries.mask;
    while (syn.entries.slots[i]) i = (i + 1) & syn.entries.mask;
    syn.entries.slots[i] = e + 1;
  }
  for (int f = 0; f < 2; f++) {
    if (!needs[f]) continue;
    int error = 0;
    open_raw(&syn, f, &error);
    if (syn.raw[f] < 0) {
      snprintf(job->error, sizeof(job->error), "the raw IPv%d TCP socket could not open: %s", f ? 6 : 4,
               strerror(error));
      goto out;
    }
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)(f * 2)};
    epoll_ctl(epfd, EPOLL_CTL_ADD, syn.raw[f], &event);
    if (syn.icmp[f] >= 0) {
      event.data.u32 = (uint32_t)(f * 2 + 1);
      epoll_ctl(epfd, EPOLL_CTL_ADD, syn.icmp[f], &event);
    }
  }
  /* Each IPv4 address's source, for the checksum; an address without a route fails its probes with the errno. */
  int *route_error = calloc(job->addresses ? job->addresses : 1, sizeof(int));
  if (!route_error) goto out;
  for (uint32_t a = 0; a < job->addresses; a++)
    if (job->family[a] == 4) route_error[a] = route_source(job->address + (size_t)a * 16, syn.source4 + (size_t)a * 4);
  Pace pace = {job->rate > 0 ? 1e9 / job->rate : 0, 0};
  uint32_t next = 0;
  struct epoll_event events[8];
  job->last_flush = now_ns();
  while (next < job->entries || syn.in_flight > 0) {
    uint64_t now = now_ns();
    /* Sends due: retransmissions and deadlines from the heap (answers queued are read before a deadline). */
    if (syn.heap.size > 0 && syn.heap.items[0].at <= now) {
      syn_read_all(&syn);
      now = now_ns();
      while (syn.heap.size > 0 && syn.heap.items[0].at <= now) {
        Event event = heap_pop(&syn.heap);
        if (syn.done[event.entry]) continue;
        if (event.what == 0) {
          emit(job, event.entry, CODE_SILENT, syn.sent[event.entry], 0, 0, 0, syn.first_send[event.entry]);
          syn_settle(&syn, event.entry);
        } else {
          syn_queue(&syn, queues, event.entry, now);
        }
      }
    }
    while (next < job->entries && syn.in_flight < job->concurrency && pace_ready(&pace, now)) {
      uint32_t entry = next++;
      pace_take(&pace, now);
      uint32_t address = job->entry_address[entry];
      syn.in_flight++;
      if (route_error[address]) {
        emit(job, entry, CODE_SEND, 0, 0, route_error[address], 0, now);
        syn_settle(&syn, entry);
        continue;
      }
      uint32_t timeout = job->entry_timeout[entry];
      int attempts = job->entry_attempts[entry] ? job->entry_attempts[entry] : 1;
      syn_queue(&syn, queues, entry, now);
      int pushed = heap_push(&syn.heap, (Event){now + (uint64_t)timeout * 1000000ull, entry, 0});
      for (int n = 1; n < attempts && pushed; n++)
        pushed = heap_push(&syn.heap, (Event){now + send_offset_ns(timeout, attempts, n), entry, (uint32_t)n});
      if (!pushed) {
        emit(job, entry, CODE_SEND, syn.sent[entry], 0, ENOMEM, 0, now);
        syn_settle(&syn, entry);
      }
    }
    for (int f = 0; f < 2; f++)
      if (queues[f].count > 0) syn_flush_sends(&syn, &queues[f], f);
    now = now_ns();
    if (now - job->last_flush >= FLUSH_NS) flush(job);
    if (next >= job->entries && syn.in_flight == 0) break;
    uint64_t until = now + 1000000000ull;
    if (syn.heap.size > 0 && syn.heap.items[0].at < until) until = syn.heap.items[0].at;
    if (next < job->entries && syn.in_flight < job->concurrency && pace.next < (double)until) until = (uint64_t)pace.next;
    if (job->last_flush + FLUSH_NS < until && job->batch && job->batch->count > 0) until = job->last_flush + FLUSH_NS;
    int ready = epoll_wait(epfd, events, 8, wait_ms(until, now));
    for (int i = 0; i < ready; i++) {
      int which = (int)events[i].data.u32;
      int f = which / 2;
      if (which % 2)
        syn_drain(&syn, syn.icmp[f], f, 1, DRAIN_LIMIT);
      else
        syn_drain(&syn, syn.raw[f], f, 0, DRAIN_LIMIT);
    }
  }
  free(route_error);
out:
  if (epfd >= 0) close(epfd);
  for (int f = 0; f < 2; f++) {
    if (syn.raw[f] >= 0) close(syn.raw[f]);
    if (syn.icmp[f] >= 0) close(syn.icmp[f]);
  }
  free(queues);
  free(syn.source4);
  free(syn.sent);
  free(syn.done);
  free(syn.last_send);
  free(syn.first_send);
  free(syn.entries.slots);
  free(syn.address_slots);
  free(syn.heap.items);
}

/* ---- the thread and its hand-over to JavaScript ---- */

static void job_free(Job *job) {
  free(job->family);
  free(job->address);
  free(job->entry_address);
  free(job->entry_port);
  free(job->entry_timeout);
  free(job->entry_attempts);
  free(job->keys);
  batch_free(job->batch);
  free(job);
}

static void *sweep_thread(void *data) {
  Job *job = data;
  job->started_ns = now_ns();
  if (job->mode == MODE_SYN)
    run_syn(job);
  else
    run_connect(job);
  Batch *last = job->batch ? job->batch : batch_new(1);
  job->batch = NULL;
  if (last) {
    if (last->count > 0) {
      /* The rows first, then the end, so JavaScript sees every row before it hears the sweep is done. */
      Batch *end = batch_new(1);
      if (napi_call_threadsafe_function(job->tsfn, last, napi_tsfn_blocking) != napi_ok) batch_free(last);
      last = end;
    }
    if (last) {
      last->done = 1;
      memcpy(last->error, job->error, sizeof(last->error));
      if (napi_call_threadsafe_function(job->tsfn, last, napi_tsfn_blocking) != napi_ok) batch_free(last);
    }
  }
  napi_threadsafe_function tsfn = job->tsfn;
  job_free(job);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  Batch *batch = data;
  if (!env || !batch) {
    batch_free(batch);
    return;
  }
  napi_value args[3], undefined, result;
  napi_get_undefined(env, &undefined);
  napi_get_null(env, &args[0]);
  napi_get_null(env, &args[1]);
  napi_get_null(env, &args[2]);
  if (!batch->done) {
    void *bytes;
    napi_value buffer;
    size_t size = sizeof(double) * ROW_WIDTH * batch->count;
    if (napi_create_arraybuffer(env, size, &bytes, &buffer) == napi_ok) {
      memcpy(bytes, batch->rows, size);
      napi_create_typedarray(env, napi_float64_array, (size_t)ROW_WIDTH * batch->count, buffer, 0, &args[0]);
    }
    if (batch->icmp_len > 0 && napi_create_arraybuffer(env, batch->icmp_len, &bytes, &buffer) == napi_ok) {
      memcpy(bytes, batch->icmp, batch->icmp_len);
      napi_create_typedarray(env, napi_uint8_array, batch->icmp_len, buffer, 0, &args[1]);
    }
  } else if (batch->error[0]) {
    napi_create_string_utf8(env, batch->error, NAPI_AUTO_LENGTH, &args[2]);
  }
  batch_free(batch);
  napi_call_function(env, undefined, callback, 3, args, &result);
}

static int copy_array(napi_env env, napi_value object, const char *name, napi_typedarray_type type, size_t width,
                      size_t count, void **out) {
  napi_value value;
  bool typed = false;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return 0;
  if (napi_is_typedarray(env, value, &typed) != napi_ok || !typed) return 0;
  napi_typedarray_type actual;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &actual, &length, &data, NULL, NULL) != napi_ok || actual != type) return 0;
  if (length != count * width) return 0;
  size_t bytes = length * (type == napi_uint8_array ? 1 : type == napi_uint16_array ? 2 : 4);
  *out = malloc(bytes ? bytes : 1);
  if (!*out) return 0;
  memcpy(*out, data, bytes);
  return 1;
}

static double number_of(napi_env env, napi_value object, const char *name) {
  napi_value value;
  double number = 0;
  if (napi_get_named_property(env, object, name, &value) == napi_ok) napi_get_value_double(env, value, &number);
  return number;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value sweep(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return fail(env, "sweep(job, onBatch)");
  Job *job = calloc(1, sizeof(Job));
  if (!job) return fail(env, "out of memory");
  job->mode = (int)number_of(env, argv[0], "mode");
  double concurrency = number_of(env, argv[0], "concurrency");
  double batch = number_of(env, argv[0], "batch");
  job->rate = number_of(env, argv[0], "rate");
  job->source_port = (uint16_t)number_of(env, argv[0], "sourcePort");
  double source_ports = number_of(env, argv[0], "sourcePorts");
  job->source_ports = source_ports >= 1 && source_ports <= 256 ? (uint16_t)source_ports : 1;
  if ((uint32_t)job->source_port + job->source_ports > 65536) job->source_ports = (uint16_t)(65536 - job->source_port);
  double accept_low = number_of(env, argv[0], "acceptLow"), accept_high = number_of(env, argv[0], "acceptHigh");
  int accept_range = accept_low >= 1 && accept_high <= 65535 && accept_low <= job->source_port &&
                     accept_high >= job->source_port + job->source_ports - 1;
  job->accept_low = accept_range ? (uint16_t)accept_low : job->source_port;
  job->accept_high = accept_range ? (uint16_t)accept_high : (uint16_t)(job->source_port + job->source_ports - 1);
  job->concurrency = concurrency >= 1 && concurrency <= 1e6 ? (uint32_t)concurrency : 256;
  job->batch_size = batch >= 1 && batch <= 65536 ? (uint32_t)batch : 4096;
  napi_value value;
  uint32_t addresses = 0, entries = 0;
  if (napi_get_named_property(env, argv[0], "family", &value) == napi_ok) napi_get_array_length(env, value, &addresses);
  bool typed = false;
  if (napi_is_typedarray(env, value, &typed) == napi_ok && typed) {
    size_t length;
    napi_get_typedarray_info(env, value, NULL, &length, NULL, NULL, NULL);
    addresses = (uint32_t)length;
  }
  if (napi_get_named_property(env, argv[0], "entryPort", &value) == napi_ok &&
      napi_is_typedarray(env, value, &typed) == napi_ok && typed) {
    size_t length;
    napi_get_typedarray_info(env, value, NULL, &length, NULL, NULL, NULL);
    entries = (uint32_t)length;
  }
  job->addresses = addresses;
  job->entries = entries;
  int ok = copy_array(env, argv[0], "family", napi_uint8_array, 1, addresses, (void **)&job->family) &&
           copy_array(env, argv[0], "address", napi_uint8_array, 16, addresses, (void **)&job->address) &&
           copy_array(env, argv[0], "entryAddress", napi_uint32_array, 1, entries, (void **)&job->entry_address) &&
           copy_array(env, argv[0], "entryPort", napi_uint16_array, 1, entries, (void **)&job->entry_port) &&
           copy_array(env, argv[0], "entryTimeout", napi_uint32_array, 1, entries, (void **)&job->entry_timeout) &&
           copy_array(env, argv[0], "entryAttempts", napi_uint8_array, 1, entries, (void **)&job->entry_attempts);
  if (ok && job->mode == MODE_SYN)
    ok = copy_array(env, argv[0], "keys", napi_uint32_array, 4, addresses, (void **)&job->keys);
  if (ok)
    for (uint32_t e = 0; e < entries; e++)
      if (job->entry_address[e] >= addresses) ok = 0;
  if (!ok) {
    job_free(job);
    return fail(env, "sweep: malformed job");
  }
  napi_value name;
  napi_create_string_utf8(env, "reachgate-sweep", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, QUEUED, 1, NULL, NULL, NULL, call_js, &job->tsfn) !=
      napi_ok) {
    job_free(job);
    return fail(env, "sweep: no thread-safe function");
  }
  pthread_t thread;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  int error = pthread_create(&thread, &attributes, sweep_thread, job);
  pthread_attr_destroy(&attributes);
  if (error != 0) {
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    job_free(job);
    return fail(env, "sweep: the engine's thread did not start");
  }
  return NULL;
}

static napi_value raw_available(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double family = 4;
  if (argc > 0) napi_get_value_double(env, argv[0], &family);
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
  int error = fd < 0 ? errno : 0;
  if (fd >= 0) close(fd);
  napi_create_int32(env, error, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"sweep", NULL, sweep, NULL, NULL, NULL, napi_default, NULL},
      {"rawAvailable", NULL, raw_available, NULL, NULL, NULL, napi_default, NULL},
      {"icmpOpen", NULL, icmp_open, NULL, NULL, NULL, napi_default, NULL},
      {"icmpSend", NULL, icmp_send, NULL, NULL, NULL, napi_default, NULL},
      {"icmpClose", NULL, icmp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
