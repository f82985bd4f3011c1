/* The limit: spawn the same handler and wait for it, with no network, as
 * fast as the machine can (posix_spawn: vfork-style in glibc).
 * usage: spawnloop SECONDS HANDLER  -> prints "spawns N seconds S" */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: spawnloop SECONDS HANDLER\n"); return 2; }
    double seconds = atof(argv[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *args[] = { argv[2], NULL };
    long n = 0;
    double start = now(), t;
    do {
        pid_t pid;
        if (posix_spawn(&pid, argv[2], &fa, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
        waitpid(pid, NULL, 0);
        n++;
    } while ((t = now()) - start < seconds);
    printf("spawns %ld seconds %.6f\n", n, t - start);
    return 0;
}
