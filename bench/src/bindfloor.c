/* The floor for start-up: open, bind and listen on the given ports of
 * 127.0.0.1 (non-blocking, close-on-exec, SO_REUSEADDR, as swinetd does),
 * then print how long that took. Usage: bindfloor FIRST COUNT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: bindfloor FIRST COUNT\n"); return 64; }
    int first = atoi(argv[1]), count = atoi(argv[2]);
    double t0 = now();
    for (int i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(first + i) };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0) { perror("bind"); return 1; }
    }
    printf("seconds %.6f\n", now() - t0);
    return 0;
}
