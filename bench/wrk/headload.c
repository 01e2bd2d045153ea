/*
 * headload: a closed-loop HTTP/1.1 keep-alive load generator for the one
 * request wrk cannot time: HEAD.
 *
 * wrk 4.1 (Debian's) and h2load both wait for the body that a HEAD
 * response's Content-Length announces but never sends, so every connection
 * stalls after its first HEAD.  This tool does what wrk does for the other
 * workloads -- N keep-alive connections, each sending its next request as
 * soon as the previous response is complete, for a fixed time -- and knows
 * that a response to HEAD (and a 204 or 304) has no body.  It also reads
 * Content-Length bodies, so a GET run can be compared with wrk's to check
 * that the two tools agree.  Chunked responses are not supported (counted
 * as read errors): neither benchmarked server sends them for these requests.
 *
 * Usage: headload HOST PORT CONNECTIONS SECONDS METHOD PATHS_FILE
 *   PATHS_FILE holds one request target (path and query) per line; the
 *   connections go round it.
 *
 * Prints one line, the same JSON as bench/wrk/presigned.lua's done():
 *   NANIO_BENCH_WRK {"duration_us":...,"requests":...,"latency_us":{...}}
 * Latencies are measured from the first byte written to the last byte read
 * of each response, in microseconds; percentiles are nearest-rank over all
 * of them.  Only responses completed before the deadline count.
 *
 * Build: cc -O2 -o headload headload.c (bench/small_objects.py does this).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_BUFFER_BYTES 65536
#define MAX_CONNECTIONS 1024
#define MAX_PATH_BYTES 8192
#define EPOLL_WAIT_MS 10

enum phase { CONNECTING, SENDING, HEADERS, BODY };

struct connection {
    int fd;
    enum phase phase;
    const char *request;
    size_t request_len;
    size_t sent;
    uint64_t started_ns;
    size_t body_left;
    size_t used;
    int status;
    char buffer[RECV_BUFFER_BYTES];
};

struct counts {
    uint64_t requests;
    uint64_t bytes;
    uint64_t connect_errors;
    uint64_t read_errors;
    uint64_t write_errors;
    uint64_t status_errors;
};

static char **requests;
static size_t *request_lens;
static size_t request_count;
static size_t next_request;
static int head_method;
static struct sockaddr_in server_address;
static int epoll_fd;
static uint32_t *latencies_us;
static size_t latency_count;
static size_t latency_capacity;
static struct counts counts;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void record_latency(uint64_t elapsed_ns) {
    if (latency_count == latency_capacity) {
        latency_capacity = latency_capacity ? latency_capacity * 2 : 65536;
        latencies_us = realloc(latencies_us, latency_capacity * sizeof *latencies_us);
        if (latencies_us == NULL) die("realloc");
    }
    latencies_us[latency_count++] = (uint32_t)(elapsed_ns / 1000u);
}

static void load_requests(const char *method, const char *host, const char *port,
                          const char *paths_file) {
    FILE *file = fopen(paths_file, "r");
    if (file == NULL) die(paths_file);
    char path[MAX_PATH_BYTES];
    size_t capacity = 0;
    while (fgets(path, sizeof path, file) != NULL) {
        size_t len = strcspn(path, "\r\n");
        path[len] = '\0';
        if (len == 0) continue;
        if (request_count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            requests = realloc(requests, capacity * sizeof *requests);
            request_lens = realloc(request_lens, capacity * sizeof *request_lens);
            if (requests == NULL || request_lens == NULL) die("realloc");
        }
        int written = asprintf(&requests[request_count], "%s %s HTTP/1.1\r\nHost: %s:%s\r\n\r\n",
                               method, path, host, port);
        if (written < 0) die("asprintf");
        request_lens[request_count] = (size_t)written;
        request_count++;
    }
    fclose(file);
    if (request_count == 0) {
        fprintf(stderr, "headload: no request paths in %s\n", paths_file);
        exit(2);
    }
}

static void watch(struct connection *c, uint32_t events, int op) {
    struct epoll_event event = {.events = events, .data = {.ptr = c}};
    if (epoll_ctl(epoll_fd, op, c->fd, &event) != 0) die("epoll_ctl");
}

static void open_connection(struct connection *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->phase = CONNECTING;
    c->used = 0;
    if (connect(c->fd, (struct sockaddr *)&server_address, sizeof server_address) != 0 &&
        errno != EINPROGRESS) {
        counts.connect_errors++;
    }
    watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void reconnect(struct connection *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    open_connection(c);
}

static void start_request(struct connection *c) {
    size_t index = next_request++ % request_count;
    c->request = requests[index];
    c->request_len = request_lens[index];
    c->sent = 0;
    c->phase = SENDING;
    c->started_ns = now_ns();
}

/* Send what remains of the request; switch to reading when it is all out. */
static void send_some(struct connection *c) {
    while (c->sent < c->request_len) {
        ssize_t n = send(c->fd, c->request + c->sent, c->request_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                watch(c, EPOLLOUT, EPOLL_CTL_MOD);
                return;
            }
            counts.write_errors++;
            reconnect(c);
            return;
        }
        c->sent += (size_t)n;
    }
    c->phase = HEADERS;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Content-Length of a header block (0 when absent), or -1 for chunked bodies. */
static long body_length(const char *headers, size_t len) {
    const char *line = memchr(headers, '\n', len);
    const char *end = headers + len;
    while (line != NULL && line + 1 < end) {
        line++;
        size_t rest = (size_t)(end - line);
        if (rest > 15 && strncasecmp(line, "content-length:", 15) == 0) {
            return strtol(line + 15, NULL, 10);
        }
        if (rest > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) {
            return -1;
        }
        line = memchr(line, '\n', rest);
    }
    return 0;
}

static void finish_response(struct connection *c, uint64_t deadline_ns) {
    uint64_t finished = now_ns();
    if (finished <= deadline_ns) {
        counts.requests++;
        if (c->status > 399) counts.status_errors++;
        record_latency(finished - c->started_ns);
    }
    c->phase = SENDING;
    start_request(c);
    send_some(c);
}

/* Read what arrived; complete as many responses as the bytes hold. */
static void receive_some(struct connection *c, uint64_t deadline_ns) {
    for (;;) {
        ssize_t n = recv(c->fd, c->buffer + c->used, RECV_BUFFER_BYTES - c->used, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            counts.read_errors++;
            reconnect(c);
            return;
        }
        if (n < 0) return;
        counts.bytes += (uint64_t)n;
        c->used += (size_t)n;
        if (c->phase == BODY) {
            size_t take = c->used < c->body_left ? c->used : c->body_left;
            c->body_left -= take;
            c->used = 0;
            if (c->body_left == 0) {
                finish_response(c, deadline_ns);
                return;
            }
            continue;
        }
        char *end = memmem(c->buffer, c->used, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->used == RECV_BUFFER_BYTES) {
                counts.read_errors++;
                reconnect(c);
                return;
            }
            continue;
        }
        size_t header_len = (size_t)(end - c->buffer) + 4;
        c->status = c->used > 12 ? atoi(c->buffer + 9) : 0;
        long length = body_length(c->buffer, header_len);
        if (length < 0) {
            counts.read_errors++;
            reconnect(c);
            return;
        }
        if (head_method || c->status == 204 || c->status == 304 || c->status < 200) {
            length = 0;
        }
        size_t after = c->used - header_len;
        if ((size_t)length <= after) {
            /* A closed loop never has a second response in flight. */
            c->used = 0;
            finish_response(c, deadline_ns);
            return;
        }
        c->body_left = (size_t)length - after;
        c->used = 0;
        c->phase = BODY;
    }
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t percentile(double p) {
    if (latency_count == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)latency_count + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > latency_count) rank = latency_count;
    return latencies_us[rank - 1];
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: headload HOST PORT CONNECTIONS SECONDS METHOD PATHS_FILE\n");
        return 2;
    }
    const char *host = argv[1];
    const char *port = argv[2];
    int connection_count = atoi(argv[3]);
    double seconds = atof(argv[4]);
    const char *method = argv[5];
    if (connection_count < 1 || connection_count > MAX_CONNECTIONS || seconds <= 0) {
        fprintf(stderr, "headload: bad connection count or duration\n");
        return 2;
    }
    head_method = strcmp(method, "HEAD") == 0;
    load_requests(method, host, port, argv[6]);
    server_address.sin_family = AF_INET;
    server_address.sin_port = htons((uint16_t)atoi(port));
    if (inet_pton(AF_INET, host, &server_address.sin_addr) != 1) {
        fprintf(stderr, "headload: HOST must be an IPv4 address\n");
        return 2;
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");

    struct connection *connections = calloc((size_t)connection_count, sizeof *connections);
    if (connections == NULL) die("calloc");
    uint64_t started = now_ns();
    uint64_t deadline = started + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < connection_count; i++) {
        next_request = (size_t)i;
        open_connection(&connections[i]);
    }
    next_request = 0;

    struct epoll_event events[MAX_CONNECTIONS];
    while (now_ns() < deadline) {
        int ready = epoll_wait(epoll_fd, events, MAX_CONNECTIONS, EPOLL_WAIT_MS);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < ready; i++) {
            struct connection *c = events[i].data.ptr;
            if (c->phase == CONNECTING) {
                int error = 0;
                socklen_t len = sizeof error;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
                if (error != 0) {
                    counts.connect_errors++;
                    reconnect(c);
                    continue;
                }
                start_request(c);
                send_some(c);
            } else if (c->phase == SENDING) {
                send_some(c);
            } else {
                receive_some(c, deadline);
            }
        }
    }
    uint64_t duration_us = (now_ns() - started) / 1000u;

    double sum = 0;
    uint32_t max = 0;
    for (size_t i = 0; i < latency_count; i++) {
        sum += latencies_us[i];
        if (latencies_us[i] > max) max = latencies_us[i];
    }
    qsort(latencies_us, latency_count, sizeof *latencies_us, compare_u32);
    printf("NANIO_BENCH_WRK {\"duration_us\":%llu,\"requests\":%llu,\"bytes\":%llu,"
           "\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,\"status\":%llu,"
           "\"timeout\":0},\"latency_us\":{\"mean\":%.1f,\"max\":%u,\"p50\":%u,\"p90\":%u,"
           "\"p99\":%u,\"p999\":%u}}\n",
           (unsigned long long)duration_us, (unsigned long long)counts.requests,
           (unsigned long long)counts.bytes, (unsigned long long)counts.connect_errors,
           (unsigned long long)counts.read_errors, (unsigned long long)counts.write_errors,
           (unsigned long long)counts.status_errors,
           latency_count ? sum / (double)latency_count : 0.0, max, percentile(50.0),
           percentile(90.0), percentile(99.0), percentile(99.9));
    return 0;
}
