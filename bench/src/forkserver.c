/* The textbook fork-per-connection server (the FreeBSD handbook's concurrent
 * server, Stevens' fork-per-client with zombie cleanup): accept, fork, the
 * child closes the listener, dup2s the socket onto 0 and 1 and execs the
 * handler; the parent closes the socket; SIGCHLD reaps.
 * Every ratio in the benchmark is taken against this.
 * usage: forkserver PORT HANDLER [ARGS...] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap(int sig) {
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: forkserver PORT HANDLER [ARGS...]\n"); return 2; }
    struct sigaction sa = {0};
    sa.sa_handler = reap;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 1024) < 0) { perror("bind/listen"); return 1; }

    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; perror("accept"); continue; }
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGPIPE, SIG_DFL);
            close(l);
            dup2(c, 0); dup2(c, 1);
            if (c > 1) close(c);
            execv(argv[2], argv + 2);
            _exit(127);
        }
        close(c);
    }
}
