/*
 * lockstep-guard: the agent's long-lived freeze guard (docs/DESIGN.md, "Applications never stay
 * frozen forever"). One per agent, started once in its own session outside every group's cgroup;
 * it outlives the agent. It keeps a table of armed entries, each a thaw script and a deadline, and
 * runs an entry's script (/bin/sh -c) when its deadline passes unless it was disarmed first. Arming
 * and disarming are one line each over a Unix socket: microseconds, not a process start.
 *
 * Usage: lockstep-guard SOCKET_PATH
 *
 * Protocol (lines of at most 4095 bytes; ids have no spaces):
 *   PING                      -> PONG <pid>
 *   ARM <id> <millis> <script> -> ARMED <id>           (re-arming an id replaces its entry)
 *   DISARM <id>               -> DISARMED <id> | FIRED <id> (it ran already) | UNKNOWN <id>
 *   LIST                      -> ENTRY <id> ARMED|FIRED ... then END
 *   STOP                      -> STOPPED (and exits) | BUSY (an entry is armed: it stays)
 * and, to every connected client, when an entry fires: EVENT FIRED <id>
 * A fired entry stays in the table (state FIRED) until it is disarmed, so that a client that was
 * not connected when it fired learns it. With no client and no armed entry for IDLE_EXIT_MS it
 * exits: nothing is left to guard, and the next agent starts a new one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 4096
#define MAX_ENTRIES 1024
#define MAX_CLIENTS 16
#define IDLE_EXIT_MS 5000

struct entry {
    int used;
    int fired;
    long long deadline_ms;
    char id[256];
    char script[MAX_LINE];
};

struct client {
    int fd;
    size_t len;
    char buf[MAX_LINE];
};

static struct entry entries[MAX_ENTRIES];
static struct client clients[MAX_CLIENTS];

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_line(int fd, const char *line) {
    size_t len = strlen(line);
    while (len > 0) {
        ssize_t n = send(fd, line, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* a client gone; its poll slot notices */
        }
        line += n;
        len -= (size_t)n;
    }
}

static struct entry *find(const char *id) {
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (entries[i].used && strcmp(entries[i].id, id) == 0) {
            return &entries[i];
        }
    }
    return NULL;
}

static void run_script(const char *script) {
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
}

static void fire_due(void) {
    long long now = now_ms();
    for (int i = 0; i < MAX_ENTRIES; i++) {
        struct entry *e = &entries[i];
        if (e->used && !e->fired && e->deadline_ms <= now) {
            run_script(e->script);
            e->fired = 1;
            char line[300];
            snprintf(line, sizeof line, "EVENT FIRED %s\n", e->id);
            for (int c = 0; c < MAX_CLIENTS; c++) {
                if (clients[c].fd >= 0) {
                    send_line(clients[c].fd, line);
                }
            }
        }
    }
}

static int armed_count(void) {
    int armed = 0;
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (entries[i].used && !entries[i].fired) {
            armed++;
        }
    }
    return armed;
}

static int client_count(void) {
    int connected = 0;
    for (int c = 0; c < MAX_CLIENTS; c++) {
        if (clients[c].fd >= 0) {
            connected++;
        }
    }
    return connected;
}

static void handle(int fd, char *line) {
    char reply[400];
    if (strcmp(line, "PING") == 0) {
        snprintf(reply, sizeof reply, "PONG %d\n", (int)getpid());
        send_line(fd, reply);
    } else if (strncmp(line, "ARM ", 4) == 0) {
        char *id = line + 4;
        char *millis = strchr(id, ' ');
        char *script = millis ? strchr(millis + 1, ' ') : NULL;
        if (!millis || !script || millis - id >= 256 || millis == id) {
            send_line(fd, "ERROR malformed ARM\n");
            return;
        }
        *millis++ = '\0';
        *script++ = '\0';
        char *end;
        long long ms = strtoll(millis, &end, 10);
        if (*end != '\0' || ms <= 0 || *script == '\0') {
            send_line(fd, "ERROR malformed ARM\n");
            return;
        }
        struct entry *e = find(id);
        for (int i = 0; !e && i < MAX_ENTRIES; i++) {
            if (!entries[i].used) {
                e = &entries[i];
            }
        }
        if (!e) {
            send_line(fd, "ERROR guard table full\n");
            return;
        }
        e->used = 1;
        e->fired = 0;
        e->deadline_ms = now_ms() + ms;
        snprintf(e->id, sizeof e->id, "%s", id);
        snprintf(e->script, sizeof e->script, "%s", script);
        snprintf(reply, sizeof reply, "ARMED %s\n", e->id);
        send_line(fd, reply);
    } else if (strncmp(line, "DISARM ", 7) == 0) {
        struct entry *e = find(line + 7);
        if (!e) {
            snprintf(reply, sizeof reply, "UNKNOWN %.256s\n", line + 7);
        } else {
            snprintf(reply, sizeof reply, "%s %s\n", e->fired ? "FIRED" : "DISARMED", e->id);
            e->used = 0;
        }
        send_line(fd, reply);
    } else if (strcmp(line, "LIST") == 0) {
        for (int i = 0; i < MAX_ENTRIES; i++) {
            if (entries[i].used) {
                snprintf(reply, sizeof reply, "ENTRY %s %s\n", entries[i].id, entries[i].fired ? "FIRED" : "ARMED");
                send_line(fd, reply);
            }
        }
        send_line(fd, "END\n");
    } else if (strcmp(line, "STOP") == 0) {
        for (int i = 0; i < MAX_ENTRIES; i++) {
            if (entries[i].used && !entries[i].fired) {
                send_line(fd, "BUSY\n");
                return;
            }
        }
        send_line(fd, "STOPPED\n");
        exit(0);
    } else {
        send_line(fd, "ERROR unknown request\n");
    }
}

static void drop(struct client *c) {
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void read_client(struct client *c) {
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (n <= 0) {
        if (n < 0 && errno == EINTR) {
            return;
        }
        drop(c);
        return;
    }
    c->len += (size_t)n;
    char *start = c->buf;
    char *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
        *nl = '\0';
        handle(c->fd, start);
        start = nl + 1;
    }
    size_t left = c->len - (size_t)(start - c->buf);
    if (left == sizeof c->buf) {
        send_line(c->fd, "ERROR line too long\n");
        drop(c);
        return;
    }
    memmove(c->buf, start, left);
    c->len = left;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: lockstep-guard SOCKET_PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "lockstep-guard: socket path too long: %s\n", argv[1]);
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) {
        perror("lockstep-guard: socket");
        return 1;
    }
    unlink(argv[1]);
    /* The socket is owner-only like every file the agent writes: 0600 (a socket needs no x bit). */
    umask(0177);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 8) < 0) {
        fprintf(stderr, "lockstep-guard: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    umask(077);
    for (int c = 0; c < MAX_CLIENTS; c++) {
        clients[c].fd = -1;
    }
    long long idle_since = now_ms();
    for (;;) {
        struct pollfd fds[MAX_CLIENTS + 1];
        fds[0].fd = listener;
        fds[0].events = POLLIN;
        for (int c = 0; c < MAX_CLIENTS; c++) {
            fds[c + 1].fd = clients[c].fd;
            fds[c + 1].events = POLLIN;
        }
        long long next = -1;
        long long now = now_ms();
        for (int i = 0; i < MAX_ENTRIES; i++) {
            if (entries[i].used && !entries[i].fired) {
                long long wait = entries[i].deadline_ms > now ? entries[i].deadline_ms - now : 0;
                if (next < 0 || wait < next) {
                    next = wait;
                }
            }
        }
        int timeout = next < 0 ? 1000 : next > 1000 ? 1000 : (int)next;
        int ready = poll(fds, MAX_CLIENTS + 1, timeout);
        if (ready < 0 && errno != EINTR) {
            perror("lockstep-guard: poll");
            return 1;
        }
        fire_due();
        if (client_count() > 0 || armed_count() > 0) {
            idle_since = now_ms();
        } else if (now_ms() - idle_since >= IDLE_EXIT_MS) {
            return 0; /* the socket file stays: unlinking it could remove a newer guard's */
        }
        if (ready <= 0) {
            continue;
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                int slot = -1;
                for (int c = 0; c < MAX_CLIENTS && slot < 0; c++) {
                    if (clients[c].fd < 0) {
                        slot = c;
                    }
                }
                if (slot < 0) {
                    send_line(fd, "ERROR too many clients\n");
                    close(fd);
                } else {
                    clients[slot].fd = fd;
                    clients[slot].len = 0;
                }
            }
        }
        for (int c = 0; c < MAX_CLIENTS; c++) {
            if (fds[c + 1].fd >= 0 && clients[c].fd == fds[c + 1].fd && (fds[c + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                read_client(&clients[c]);
            }
        }
        fire_due();
    }
}
