/* The load generator: CONCURRENCY threads, each connecting, optionally
 * sending a line and half-closing, reading to EOF and closing, until TOTAL
 * connections are done (TOTAL "Ns": for N seconds instead). Prints the
 * count, failures, elapsed seconds and latency percentiles (connect to
 * EOF), one "key value" per line.
 * With "open" after SEND, the client keeps its side open after sending it
 * (as a load balancer does after a PROXY header): only the server ends.
 * usage: loadgen HOST PORT CONCURRENCY TOTAL|SECONDSs [SEND [open]] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_storage addr;
static socklen_t addrlen;
static int family;
static const char *payload;
static int half_close = 1;
static long total;
static atomic_long next_index;
static atomic_long failures;
static atomic_long done;
/* With a duration: when to stop starting connections (0: run to TOTAL). */
static double deadline;
static double *latencies;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int one_connection(void) {
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, addrlen) < 0) { close(fd); return -1; }
    if (payload) {
        size_t len = strlen(payload);
        if (send(fd, payload, len, MSG_NOSIGNAL) != (ssize_t)len) { close(fd); return -1; }
        if (half_close) shutdown(fd, SHUT_WR);
    }
    char buf[4096];
    long got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
        got += n;
    }
    close(fd);
    return got > 0 ? 0 : -1;   /* every handler here answers something */
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        if (deadline > 0 && now() >= deadline) return NULL;
        long i = atomic_fetch_add(&next_index, 1);
        if (i >= total) return NULL;
        double t0 = now();
        if (one_connection() < 0) { atomic_fetch_add(&failures, 1); latencies[i] = -1; }
        else latencies[i] = now() - t0;
        atomic_fetch_add(&done, 1);
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: loadgen HOST PORT CONCURRENCY TOTAL [SEND [open]]\n"); return 2; }
    int port = atoi(argv[2]);
    int conc = atoi(argv[3]);
    total = atol(argv[4]);
    int timed = argv[4][strlen(argv[4]) - 1] == 's';
    if (timed) total = 2000000;   /* more than any run for seconds does */
    payload = argc > 5 ? argv[5] : NULL;
    half_close = !(argc > 6 && strcmp(argv[6], "open") == 0);
    memset(&addr, 0, sizeof addr);
    if (strchr(argv[1], ':')) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&addr;
        s->sin6_family = family = AF_INET6; s->sin6_port = htons(port);
        inet_pton(AF_INET6, argv[1], &s->sin6_addr); addrlen = sizeof *s;
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)&addr;
        s->sin_family = family = AF_INET; s->sin_port = htons(port);
        inet_pton(AF_INET, argv[1], &s->sin_addr); addrlen = sizeof *s;
    }
    latencies = calloc(total, sizeof *latencies);
    pthread_t *threads = calloc(conc, sizeof *threads);
    double start = now();
    if (timed) deadline = start + atof(argv[4]);
    for (int i = 0; i < conc; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < conc; i++) pthread_join(threads[i], NULL);
    double elapsed = now() - start;
    long ok = 0, finished = (long)done;
    for (long i = 0; i < finished; i++) if (latencies[i] >= 0) latencies[ok++] = latencies[i];
    qsort(latencies, ok, sizeof *latencies, cmp);
    printf("connections %ld\nfailed %ld\nelapsed %.6f\n", finished, (long)failures, elapsed);
    printf("p50_ms %.3f\np99_ms %.3f\n", ok ? latencies[ok / 2] * 1e3 : 0, ok ? latencies[(long)(ok * 0.99)] * 1e3 : 0);
    return 0;
}
