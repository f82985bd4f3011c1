// UDP load: CONCURRENCY threads, each its own socket, send a numbered
// request, wait up to 0.5 s for the answer (resending once), and count the
// round trips; after 20 s no new request starts, so a server that loses
// datagrams cannot stall the benchmark. Prints what loadgen prints.
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;
static long total, next_request, failures, done;
static double *latencies;
static double deadline;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *client(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = { 0, 500000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        pthread_mutex_lock(&lock);
        long i = next_request < total && now() < deadline ? next_request++ : -1;
        pthread_mutex_unlock(&lock);
        if (i < 0) break;
        char request[64], answer[64];
        int len = snprintf(request, sizeof request, "request %ld", i);
        double start = now();
        int ok = 0;
        for (int attempt = 0; attempt < 2 && !ok; attempt++) {
            sendto(fd, request, len, 0, (struct sockaddr *)&target, sizeof target);
            long n;
            while ((n = recv(fd, answer, sizeof answer, 0)) > 0) {
                if (n == len && memcmp(answer, request, len) == 0) { ok = 1; break; }
            }
        }
        pthread_mutex_lock(&lock);
        if (ok) latencies[done++] = now() - start; else failures++;
        pthread_mutex_unlock(&lock);
    }
    close(fd);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: udpgen HOST PORT CONCURRENCY TOTAL\n"); return 2; }
    target.sin_family = AF_INET;
    target.sin_port = htons(atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &target.sin_addr);
    int conc = atoi(argv[3]);
    total = atol(argv[4]);
    latencies = calloc(total, sizeof *latencies);
    pthread_t threads[256];
    double start = now();
    deadline = start + 20;
    for (int i = 0; i < conc && i < 256; i++) pthread_create(&threads[i], NULL, client, NULL);
    for (int i = 0; i < conc && i < 256; i++) pthread_join(threads[i], NULL);
    double elapsed = now() - start;
    qsort(latencies, done, sizeof *latencies, compare);
    printf("connections %ld\nfailed %ld\nelapsed %.6f\n", done, failures, elapsed);
    printf("p50_ms %.3f\np99_ms %.3f\n", done ? latencies[done / 2] * 1e3 : 0, done ? latencies[(long)(done * 0.99)] * 1e3 : 0);
    return 0;
}
