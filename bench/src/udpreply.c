// The UDP handler of the benchmark, for every server alike: a classic
// "dgram wait" handler that reads one datagram from descriptor 0, answers
// it, and exits, so each request goes through a handler of its own.
#include <sys/socket.h>
#include <netinet/in.h>

int main(void) {
    char buffer[512];
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    long n = recvfrom(0, buffer, sizeof buffer, 0, (struct sockaddr *)&from, &len);
    if (n < 0) return 1;
    return sendto(0, buffer, (unsigned long)n, 0, (struct sockaddr *)&from, len) < 0;
}
