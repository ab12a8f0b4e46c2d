/*
 * lockstep-stub: the restore stub, one process per restored process.
 *
 *   lockstep-stub CONTROL_SOCKET
 *   lockstep-stub --exec UID GID      (agent run: start a program with exact bytes, see run_program)
 *
 * It connects to the agent's private control socket, reopens the recorded files at their
 * recorded descriptor numbers, drops to the recorded uid/gid, takes the recorded locks when
 * told (in rounds, in the global order the agent sends), and on a committed release becomes the
 * restarted program by execve: same pid, fds and locks, with LOCKSTEP_RESTORED=1 and
 * LOCKSTEP_CHECKPOINT=<id> in its environment. It is C, single-threaded and has no runtime of
 * its own, so no descriptor of its own survives into the program and nothing runs behind its
 * back between the lock calls.
 *
 * Protocol (version 1): frames of u32 length (big-endian, counting what follows), u8 version,
 * u8 type, payload. Integers are big-endian; "bytes" is u32 length + raw bytes (paths, argv and
 * environment are bytes, never text in some charset). The agent sends PLAN, then any number of
 * PREPARE, then RELEASE; the stub sends HELLO once connected and one REPLY per PLAN/PREPARE (and
 * per failed RELEASE). Any malformed input is answered with a REFUSED reply naming what was
 * wrong, and the stub exits: the kernel drops whatever it held. A closed channel means abort,
 * except for a stub that completed a PREPARE round and is not in one: its agent died, and it keeps
 * its locks and waits (at most ORPHAN_WAIT_MS) for a restarted agent to carry the op's decision
 * as a signal from root: SIGUSR1 = commit (execve as on a committed RELEASE), SIGTERM = abort.
 *
 * After it connected it never writes to stdout or stderr: fds 0-2 may be the application's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1

#define MSG_PLAN 1
#define MSG_PREPARE 2
#define MSG_RELEASE 3
#define MSG_HELLO 0x81
#define MSG_REPLY 0x82

#define ST_STAGED 1
#define ST_PREPARED 2
#define ST_CONFLICT 3
#define ST_TIMEOUT 4
#define ST_FAILED 5
#define ST_REFUSED 6

#define KIND_FILE 1
#define KIND_DIRECTORY 2

#define LOCK_POSIX 1
#define LOCK_OFD 2
#define LOCK_FLOCK 3
#define TYPE_READ 1
#define TYPE_WRITE 2

#define EXIT_ABORTED 0
#define EXIT_AGENT_LOST 3
#define EXIT_STAGE_FAILED 4
#define EXIT_PROTOCOL 5
#define EXIT_EXEC_FAILED 6
#define EXIT_RUN_FAILED 127
#define MAX_RUN_SPEC (16u << 20)

#define MAX_FRAME (16u << 20)
#define MAX_FD 65535
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define NEVER_ON_RESTORE (O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC)

typedef struct {
    const uint8_t *data;
    uint32_t len;
} bytes_t;

typedef struct {
    int32_t fd;
    uint8_t kind;
    int32_t flags;
    int64_t offset;
    uint64_t dev;
    uint64_t ino;
    char *path; /* NUL-terminated copy; the protocol refuses a path with a NUL inside */
} plan_fd_t;

typedef struct {
    int32_t old_pid;
    uint32_t uid;
    uint32_t gid;
    uint8_t allow_root;
    char *cwd;
    char *checkpoint_id;
    uint32_t nfds;
    plan_fd_t *fds;
    uint32_t argc;
    char **argv;
    uint32_t envc;
    char **env;
    uint32_t nhand_over;
    int32_t *hand_over; /* restored fds closed at execve: the program takes their flock/OFD locks again */
} plan_t;

typedef struct {
    int32_t fd;
    uint8_t kind;
    uint8_t type;
    int64_t start;
    int64_t end; /* inclusive; -1 = to end of file */
    int64_t order;
} lock_t;

typedef struct {
    int status;
    int32_t locks_held;
    int32_t fd;
    const char *path;
    char message[1024];
    const lock_t *lock;
    int32_t holder_pid;
} reply_t;

static int control = -1;
static int32_t self_pid;
static plan_t plan;
static lock_t *held;
static uint32_t nheld;
static uint32_t held_capacity;
static int must_exit;
/* A PREPARE round completed (the stub may hold locks the decision is about) / one is running. */
static int prepared_once;
static int in_round;
/* The signal mask the stub started with, given back to the program at execve. */
static sigset_t start_mask;

#define ORPHAN_WAIT_MS (5 * 60 * 1000)

/* ---- framing ---- */

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *grown = realloc(b->data, cap);
        if (grown == NULL) {
            _exit(EXIT_PROTOCOL);
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u8(buf_t *b, uint8_t v) { put(b, &v, 1); }

static void put_u32(buf_t *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void put_u64(buf_t *b, uint64_t v) {
    put_u32(b, (uint32_t)(v >> 32));
    put_u32(b, (uint32_t)v);
}

static void put_bytes(buf_t *b, const char *s) {
    size_t n = s == NULL ? 0 : strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends one frame; a stub whose agent is gone has nobody to report to, and exits. */
static void send_frame(uint8_t type, const buf_t *payload) {
    buf_t frame = {0};
    put_u32(&frame, (uint32_t)(2 + payload->len));
    put_u8(&frame, PROTOCOL_VERSION);
    put_u8(&frame, type);
    put(&frame, payload->data, payload->len);
    if (write_all(control, frame.data, frame.len) != 0) {
        _exit(EXIT_AGENT_LOST);
    }
    free(frame.data);
}

static void put_lock(buf_t *b, const lock_t *l) {
    put_u32(b, (uint32_t)l->fd);
    put_u8(b, l->kind);
    put_u8(b, l->type);
    put_u64(b, (uint64_t)l->start);
    put_u64(b, (uint64_t)l->end);
    put_u64(b, (uint64_t)l->order);
}

static void send_reply(const reply_t *r) {
    buf_t b = {0};
    put_u8(&b, (uint8_t)r->status);
    put_u32(&b, (uint32_t)self_pid);
    put_u32(&b, (uint32_t)r->locks_held);
    put_u32(&b, (uint32_t)r->fd);
    put_bytes(&b, r->path);
    put_bytes(&b, r->message);
    put_u8(&b, r->lock != NULL);
    if (r->lock != NULL) {
        put_lock(&b, r->lock);
        put_u32(&b, (uint32_t)r->holder_pid);
    }
    send_frame(MSG_REPLY, &b);
    free(b.data);
}

static void reply_status(int status, int32_t fd, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_status(int status, int32_t fd, const char *path, const char *fmt, ...) {
    reply_t r = {.status = status, .locks_held = (int32_t)nheld, .fd = fd, .path = path, .holder_pid = -1};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.message, sizeof r.message, fmt, ap);
    va_end(ap);
    send_reply(&r);
}

/* Malformed input: say what, and exit; the kernel drops every lock this process holds. */
static void refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void refuse(const char *fmt, ...) {
    reply_t r = {.status = ST_REFUSED, .locks_held = 0, .fd = -1, .path = "", .holder_pid = -1};
    int n = snprintf(r.message, sizeof r.message, "restore stub pid %d refused the agent's message: ", self_pid);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.message + n, sizeof r.message - (size_t)n, fmt, ap);
    va_end(ap);
    send_reply(&r);
    _exit(EXIT_PROTOCOL);
}

static int read_all(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void become_program(void);

static int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A prepared stub whose agent died: its locks are what the op's decision is about, so it keeps
 * them and waits for a restarted agent (root) to signal the decision; only root decides, never
 * the program's own uid. Nobody within ORPHAN_WAIT_MS: it exits and the kernel drops its locks. */
static void orphan_wait(void) __attribute__((noreturn));

static void orphan_wait(void) {
    close(control);
    control = -1;
    sigset_t decision;
    sigemptyset(&decision);
    sigaddset(&decision, SIGUSR1);
    sigaddset(&decision, SIGTERM);
    sigprocmask(SIG_BLOCK, &decision, NULL);
    int64_t until = monotonic_ms() + ORPHAN_WAIT_MS;
    for (;;) {
        int64_t left = until - monotonic_ms();
        if (left <= 0) {
            _exit(EXIT_AGENT_LOST);
        }
        struct timespec wait = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000L};
        siginfo_t info;
        int sig = sigtimedwait(&decision, &info, &wait);
        if (sig < 0 || info.si_code != SI_USER || info.si_uid != 0) {
            continue;
        }
        if (sig == SIGTERM) {
            _exit(EXIT_ABORTED);
        }
        become_program();
        _exit(EXIT_EXEC_FAILED);
    }
}

/* The agent closed the channel (or died): an abort, unless the stub is prepared (above). */
static void agent_lost(void) __attribute__((noreturn));

static void agent_lost(void) {
    if (prepared_once && !in_round) {
        orphan_wait();
    }
    _exit(EXIT_AGENT_LOST);
}

typedef struct {
    uint8_t type;
    uint8_t *data;
    const uint8_t *pos;
    const uint8_t *end;
} frame_t;

static void read_frame(frame_t *f) {
    uint8_t head[4];
    if (read_all(control, head, 4) != 0) {
        agent_lost();
    }
    uint32_t len = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (len < 2 || len > MAX_FRAME) {
        refuse("frame length %u is outside 2..%u", len, MAX_FRAME);
    }
    f->data = malloc(len);
    if (f->data == NULL || read_all(control, f->data, len) != 0) {
        agent_lost();
    }
    if (f->data[0] != PROTOCOL_VERSION) {
        refuse("protocol version %u, this stub speaks %u", f->data[0], PROTOCOL_VERSION);
    }
    f->type = f->data[1];
    f->pos = f->data + 2;
    f->end = f->data + len;
}

static const char *field = "";

static void need(frame_t *f, size_t n) {
    if ((size_t)(f->end - f->pos) < n) {
        refuse("message type %u ends inside %s", f->type, field);
    }
}

static uint8_t get_u8(frame_t *f) {
    need(f, 1);
    return *f->pos++;
}

static uint32_t get_u32(frame_t *f) {
    need(f, 4);
    const uint8_t *p = f->pos;
    f->pos += 4;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(frame_t *f) {
    uint64_t hi = get_u32(f);
    return hi << 32 | get_u32(f);
}

/* Bytes as a NUL-terminated string: a NUL inside could never reach a system call intact. */
static char *get_string(frame_t *f, int may_be_empty) {
    uint32_t n = get_u32(f);
    need(f, n);
    if (memchr(f->pos, 0, n) != NULL) {
        refuse("%s contains a NUL byte", field);
    }
    if (n == 0 && !may_be_empty) {
        refuse("%s is empty", field);
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        refuse("out of memory reading %s", field);
    }
    memcpy(s, f->pos, n);
    s[n] = 0;
    f->pos += n;
    return s;
}

/* A count of items that each take at least `min_item` bytes must fit in what is left. */
static uint32_t get_count(frame_t *f, size_t min_item) {
    uint32_t n = get_u32(f);
    if ((size_t)n > (size_t)(f->end - f->pos) / min_item) {
        refuse("%s count %u does not fit in the message", field, n);
    }
    return n;
}

static void expect_end(frame_t *f) {
    if (f->pos != f->end) {
        refuse("message type %u has %ld bytes after its last field", f->type, (long)(f->end - f->pos));
    }
}

static const plan_fd_t *planned(int fd) {
    for (uint32_t i = 0; i < plan.nfds; i++) {
        if (plan.fds[i].fd == fd) {
            return &plan.fds[i];
        }
    }
    return NULL;
}

static void parse_plan(frame_t *f) {
    field = "old_pid";
    plan.old_pid = (int32_t)get_u32(f);
    field = "uid";
    plan.uid = get_u32(f);
    field = "gid";
    plan.gid = get_u32(f);
    field = "allow_root";
    plan.allow_root = get_u8(f);
    field = "cwd";
    plan.cwd = get_string(f, 0);
    if (plan.cwd[0] != '/') {
        refuse("cwd '%s' is not absolute", plan.cwd);
    }
    field = "checkpoint id";
    plan.checkpoint_id = get_string(f, 1);
    field = "fd";
    plan.nfds = get_count(f, 4 + 1 + 4 + 8 + 8 + 8 + 4);
    plan.fds = calloc(plan.nfds ? plan.nfds : 1, sizeof *plan.fds);
    for (uint32_t i = 0; i < plan.nfds; i++) {
        plan_fd_t *p = &plan.fds[i];
        field = "fd";
        p->fd = (int32_t)get_u32(f);
        p->kind = get_u8(f);
        p->flags = (int32_t)get_u32(f);
        p->offset = (int64_t)get_u64(f);
        p->dev = get_u64(f);
        p->ino = get_u64(f);
        field = "fd path";
        p->path = get_string(f, 0);
        if (p->fd < 0 || p->fd > MAX_FD) {
            refuse("fd number %d is outside 0..%d", p->fd, MAX_FD);
        }
        if (p->kind != KIND_FILE && p->kind != KIND_DIRECTORY) {
            refuse("fd %d has kind %u, neither file (1) nor directory (2)", p->fd, p->kind);
        }
        if (p->offset < 0) {
            refuse("fd %d has negative offset %lld", p->fd, (long long)p->offset);
        }
        if (p->path[0] != '/') {
            refuse("fd %d path '%s' is not absolute", p->fd, p->path);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (plan.fds[j].fd == p->fd) {
                refuse("fd %d is planned twice", p->fd);
            }
        }
    }
    field = "argv";
    plan.argc = get_count(f, 4);
    plan.argv = calloc((size_t)plan.argc + 1, sizeof *plan.argv);
    for (uint32_t i = 0; i < plan.argc; i++) {
        plan.argv[i] = get_string(f, i > 0);
    }
    field = "environment";
    plan.envc = get_count(f, 4);
    plan.env = calloc((size_t)plan.envc + 3, sizeof *plan.env);
    for (uint32_t i = 0; i < plan.envc; i++) {
        plan.env[i] = get_string(f, 0);
        char *eq = strchr(plan.env[i], '=');
        if (eq == NULL || eq == plan.env[i]) {
            refuse("environment entry '%s' is not NAME=value", plan.env[i]);
        }
    }
    field = "hand-over fd";
    plan.nhand_over = get_count(f, 4);
    plan.hand_over = calloc(plan.nhand_over ? plan.nhand_over : 1, sizeof *plan.hand_over);
    for (uint32_t i = 0; i < plan.nhand_over; i++) {
        plan.hand_over[i] = (int32_t)get_u32(f);
        if (planned(plan.hand_over[i]) == NULL) {
            refuse("hand-over fd %d is not a restored fd", plan.hand_over[i]);
        }
    }
    expect_end(f);
}

static void parse_lock(frame_t *f, lock_t *l) {
    field = "lock";
    l->fd = (int32_t)get_u32(f);
    l->kind = get_u8(f);
    l->type = get_u8(f);
    l->start = (int64_t)get_u64(f);
    l->end = (int64_t)get_u64(f);
    l->order = (int64_t)get_u64(f);
    if (l->kind != LOCK_POSIX && l->kind != LOCK_OFD && l->kind != LOCK_FLOCK) {
        refuse("lock #%lld has kind %u, not POSIX (1), OFD (2) or FLOCK (3)", (long long)l->order, l->kind);
    }
    if (l->type != TYPE_READ && l->type != TYPE_WRITE) {
        refuse("lock #%lld has type %u, not READ (1) or WRITE (2)", (long long)l->order, l->type);
    }
    if (l->start < 0 || l->end < -1 || (l->end != -1 && l->end < l->start)) {
        refuse("lock #%lld has an invalid range %lld-%lld", (long long)l->order, (long long)l->start,
               (long long)l->end);
    }
}

/* ---- staging ---- */


static int stage_failed(int32_t fd, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int stage_failed(int32_t fd, const char *path, const char *fmt, ...) {
    reply_t r = {.status = ST_FAILED, .fd = fd, .path = path, .holder_pid = -1};
    int n = 0;
    if (fd >= 0) {
        n = snprintf(r.message, sizeof r.message, "fd %d (%s): ", fd, path);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.message + n, sizeof r.message - (size_t)n, fmt, ap);
    va_end(ap);
    send_reply(&r);
    return -1;
}

/* Opens the file with its recorded flags, checks it is the file the agent checked, seeks, and
 * moves it onto its number (over the placeholder there). */
static int reopen(const plan_fd_t *p) {
    int directory = p->kind == KIND_DIRECTORY;
    int flags = (p->flags & ~NEVER_ON_RESTORE) | (directory ? O_DIRECTORY : 0) | O_NOFOLLOW | O_CLOEXEC;
    int temporary = open(p->path, flags, 0);
    if (temporary < 0) {
        return stage_failed(p->fd, p->path, "open: %s", strerror(errno));
    }
    if (p->dev != 0 || p->ino != 0) {
        struct stat st;
        if (fstat(temporary, &st) != 0) {
            int e = errno;
            close(temporary);
            return stage_failed(p->fd, p->path, "fstat: %s", strerror(e));
        }
        if ((uint64_t)st.st_dev != p->dev || (uint64_t)st.st_ino != p->ino) {
            close(temporary);
            return stage_failed(p->fd, p->path, "file changed since the agent checked it: expected dev %llu inode %llu, "
                                "opened dev %llu inode %llu (swapped or replaced)",
                                (unsigned long long)p->dev, (unsigned long long)p->ino,
                                (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        }
    }
    /* A directory's offset is a readdir cookie of the old open: meaningless on a new one. */
    if (!directory && p->offset != 0 && lseek(temporary, (off_t)p->offset, SEEK_SET) < 0) {
        int e = errno;
        close(temporary);
        return stage_failed(p->fd, p->path, "lseek to %lld: %s", (long long)p->offset, strerror(e));
    }
    /* The recorded flags decide close-on-exec: dup2 clears it; O_CLOEXEC is never restored. */
    if (dup2(temporary, p->fd) < 0) {
        int e = errno;
        close(temporary);
        return stage_failed(p->fd, p->path, "dup2: %s", strerror(e));
    }
    close(temporary);
    return 0;
}

static const char *env_value(const char *name) {
    size_t n = strlen(name);
    for (uint32_t i = 0; i < plan.envc; i++) {
        if (strncmp(plan.env[i], name, n) == 0 && plan.env[i][n] == '=') {
            return plan.env[i] + n + 1;
        }
    }
    return NULL;
}

static int is_executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* execve does not search PATH: resolve the command now (as the restored user), so a bad one
 * fails before any lock is taken. */
static char *executable(void) {
    const char *command = plan.argv[0];
    if (strchr(command, '/') != NULL) {
        return strdup(command);
    }
    const char *search = env_value("PATH");
    char *dirs = strdup(search != NULL ? search : DEFAULT_PATH);
    char *rest = dirs;
    for (;;) {
        char *colon = strchr(rest, ':');
        if (colon != NULL) {
            *colon = 0;
        }
        char candidate[PATH_MAX];
        int n = snprintf(candidate, sizeof candidate, "%s/%s", *rest ? rest : ".", command);
        if (n > 0 && (size_t)n < sizeof candidate && is_executable_file(candidate)) {
            free(dirs);
            return strdup(candidate);
        }
        if (colon == NULL) {
            break;
        }
        rest = colon + 1;
    }
    free(dirs);
    return NULL;
}

static char *program;

static int stage(void) {
    if (plan.uid == 0 && !plan.allow_root) {
        return stage_failed(-1, "", "the plan runs process %d as uid 0, but root is not allowed", plan.old_pid);
    }
    if (plan.argc == 0) {
        return stage_failed(-1, "", "the plan of process %d has no restart command", plan.old_pid);
    }
    int highest = 2;
    for (uint32_t i = 0; i < plan.nfds; i++) {
        highest = plan.fds[i].fd > highest ? plan.fds[i].fd : highest;
    }
    /* The control socket moves above every recorded number, and a placeholder occupies each of
     * them, so that no descriptor the stub opens later lands on a number it restores. */
    int moved = fcntl(control, F_DUPFD_CLOEXEC, highest + 1);
    if (moved < 0) {
        return stage_failed(-1, "", "cannot move the control socket above fd %d: %s", highest, strerror(errno));
    }
    close(control);
    control = moved;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0) {
        return stage_failed(-1, "/dev/null", "open /dev/null: %s", strerror(errno));
    }
    for (uint32_t i = 0; i < plan.nfds; i++) {
        int fd = plan.fds[i].fd;
        if (fd > 2 && fd != null && dup2(null, fd) < 0) {
            return stage_failed(fd, plan.fds[i].path, "cannot place a placeholder: %s", strerror(errno));
        }
    }
    if (planned(null) == NULL) {
        close(null);
    }
    if (geteuid() != plan.uid || getegid() != plan.gid) {
        if (setgroups(0, NULL) != 0) {
            return stage_failed(-1, "", "setgroups: %s", strerror(errno));
        }
        if (setresgid(plan.gid, plan.gid, plan.gid) != 0) {
            return stage_failed(-1, "", "setresgid %u: %s", plan.gid, strerror(errno));
        }
        if (setresuid(plan.uid, plan.uid, plan.uid) != 0) {
            return stage_failed(-1, "", "setresuid %u: %s", plan.uid, strerror(errno));
        }
    }
    /* Files are opened as the restored user, so the manifest grants no access it lacks. */
    for (uint32_t i = 0; i < plan.nfds; i++) {
        if (reopen(&plan.fds[i]) != 0) {
            return -1;
        }
    }
    if (chdir(plan.cwd) != 0) {
        return stage_failed(-1, plan.cwd, "chdir %s: %s", plan.cwd, strerror(errno));
    }
    program = executable();
    if (program == NULL) {
        return stage_failed(-1, plan.argv[0], "restart command %s not found in PATH", plan.argv[0]);
    }
    reply_status(ST_STAGED, -1, "", "staged");
    return 0;
}

/* ---- locks ---- */

static struct flock range(const lock_t *l, short type) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)l->start;
    fl.l_len = l->end < 0 ? 0 : (off_t)(l->end - l->start + 1);
    return fl;
}

static short fcntl_type(const lock_t *l) {
    return l->type == TYPE_WRITE ? F_WRLCK : F_RDLCK;
}

/* 1 taken, 0 held by someone else, -1 failed (errno set). */
static int try_take(const lock_t *l) {
    int r;
    if (l->kind == LOCK_FLOCK) {
        r = flock(l->fd, (l->type == TYPE_WRITE ? LOCK_EX : LOCK_SH) | LOCK_NB);
        if (r != 0 && errno == EWOULDBLOCK) {
            return 0;
        }
    } else {
        struct flock fl = range(l, fcntl_type(l));
        r = fcntl(l->fd, l->kind == LOCK_OFD ? F_OFD_SETLK : F_SETLK, &fl);
        if (r != 0 && (errno == EAGAIN || errno == EACCES)) {
            return 0;
        }
    }
    return r == 0 ? 1 : -1;
}

static void give_back(const lock_t *l) {
    int r;
    if (l->kind == LOCK_FLOCK) {
        r = flock(l->fd, LOCK_UN);
    } else {
        struct flock fl = range(l, F_UNLCK);
        r = fcntl(l->fd, l->kind == LOCK_OFD ? F_OFD_SETLK : F_SETLK, &fl);
    }
    if (r != 0) {
        must_exit = 1; /* the stub then exits, so that it surely holds nothing */
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* While a blocking round waits: the agent may abort (or vanish) meanwhile, and then the stub
 * ends at once. Any other message in the middle of a round is a protocol error. */
static void wait_watching_agent(int64_t ms) {
    struct pollfd p = {.fd = control, .events = POLLIN};
    int r = poll(&p, 1, (int)ms);
    if (r > 0) {
        frame_t f;
        read_frame(&f);
        if (f.type == MSG_RELEASE) {
            field = "commit";
            uint8_t commit = get_u8(&f);
            if (!commit) {
                _exit(EXIT_ABORTED);
            }
        }
        refuse("message type %u arrived while a PREPARE round was still running", f.type);
    }
}

/* The pid of a granted lock of the given kinds on fd's file that conflicts with `l`, other than
 * this process's own POSIX locks; -1 when /proc/locks shows none. F_GETLK names no holder of
 * flock or OFD locks, so they are looked up here. */
static int32_t holder_in_proc_locks(const lock_t *l) {
    struct stat st;
    if (fstat(l->fd, &st) != 0) {
        return -1;
    }
    FILE *in = fopen("/proc/locks", "re");
    if (in == NULL) {
        return -1;
    }
    char line[512];
    int32_t found = -1;
    while (found < 0 && fgets(line, sizeof line, in) != NULL) {
        char kind[16], advisory[16], type[16], startText[32], endText[32];
        int pid;
        unsigned maj, min;
        unsigned long long ino;
        if (strstr(line, "->") != NULL) {
            continue;
        }
        char *p = strchr(line, ':');
        if (p == NULL || sscanf(p + 1, "%15s %15s %15s %d %x:%x:%llu %31s %31s", kind, advisory, type, &pid, &maj,
                                &min, &ino, startText, endText) != 9) {
            continue;
        }
        if (ino != (unsigned long long)st.st_ino || maj != major(st.st_dev) || min != minor(st.st_dev)) {
            continue;
        }
        int flockEntry = strcmp(kind, "FLOCK") == 0;
        int rangeEntry = strcmp(kind, "POSIX") == 0 || strcmp(kind, "OFDLCK") == 0;
        if (l->kind == LOCK_FLOCK ? !flockEntry : !rangeEntry) {
            continue;
        }
        if (strcmp(kind, "POSIX") == 0 && pid == self_pid) {
            continue;
        }
        if (l->kind != LOCK_FLOCK) {
            long long start = atoll(startText);
            long long end = strcmp(endText, "EOF") == 0 ? -1 : atoll(endText);
            int startsBeforeOtherEnds = l->end < 0 || start <= l->end;
            int endsAfterOtherStarts = end < 0 || end >= l->start;
            if (!startsBeforeOtherEnds || !endsAfterOtherStarts) {
                continue;
            }
        }
        if (l->type == TYPE_WRITE || strcmp(type, "WRITE") == 0) {
            found = pid;
        }
    }
    fclose(in);
    return found;
}

static int32_t holder(const lock_t *l) {
    if (l->kind == LOCK_POSIX) {
        struct flock fl = range(l, fcntl_type(l));
        if (fcntl(l->fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) {
            return fl.l_pid;
        }
    }
    return holder_in_proc_locks(l);
}

static const char *kind_name(uint8_t kind) {
    return kind == LOCK_POSIX ? "POSIX" : kind == LOCK_OFD ? "OFD" : "FLOCK";
}

static int describe(char *out, size_t n, const lock_t *l, const char *path) {
    char end[32];
    if (l->end < 0) {
        snprintf(end, sizeof end, "EOF");
    } else {
        snprintf(end, sizeof end, "%lld", (long long)l->end);
    }
    return snprintf(out, n, "%s %s lock #%lld on fd %d (%s) range %lld-%s", kind_name(l->kind),
                    l->type == TYPE_WRITE ? "WRITE" : "READ", (long long)l->order, l->fd, path,
                    (long long)l->start, end);
}

static void hold(const lock_t *l) {
    if (nheld == held_capacity) {
        held_capacity = held_capacity ? held_capacity * 2 : 64;
        lock_t *grown = realloc(held, held_capacity * sizeof *held);
        if (grown == NULL) {
            _exit(EXIT_STAGE_FAILED);
        }
        held = grown;
    }
    held[nheld++] = *l;
}

/* Gives back the newest `count` locks (a failed round's). */
static void give_back_newest(uint32_t count) {
    while (count-- > 0) {
        give_back(&held[--nheld]);
    }
}

/* One PREPARE: its locks in the given order, all or nothing; locks of earlier rounds stay held
 * unless it asks for a reset. Never closes or moves an fd: closing any fd of a file drops all of
 * the process's POSIX locks on it. Blocking rounds poll the non-blocking calls with a bounded
 * back-off, so every wait ends at the deadline and the agent can abort meanwhile. */
static void prepare(frame_t *f) {
    field = "blocking";
    uint8_t blocking = get_u8(f);
    field = "reset";
    uint8_t reset = get_u8(f);
    field = "deadline";
    int64_t deadline = (int64_t)get_u64(f);
    field = "lock";
    uint32_t n = get_count(f, 4 + 1 + 1 + 8 + 8 + 8);
    lock_t *locks = calloc(n ? n : 1, sizeof *locks);
    for (uint32_t i = 0; i < n; i++) {
        parse_lock(f, &locks[i]);
    }
    expect_end(f);
    in_round = 1;
    if (reset) {
        give_back_newest(nheld);
    }
    uint32_t taken = 0;
    for (uint32_t i = 0; i < n; i++) {
        const lock_t *l = &locks[i];
        const plan_fd_t *p = planned(l->fd);
        if (p == NULL) {
            give_back_newest(taken);
            reply_status(ST_FAILED, l->fd, "", "lock #%lld is on fd %d, which this stub did not restore",
                         (long long)l->order, l->fd);
            free(locks);
            in_round = 0;
            return;
        }
        int64_t backoff = 1;
        int r;
        while ((r = try_take(l)) == 0) {
            int64_t left = deadline - now_ms();
            if (!blocking || left <= 0) {
                break;
            }
            wait_watching_agent(backoff < left ? backoff : left);
            backoff = backoff * 2 > 50 ? 50 : backoff * 2;
        }
        if (r != 1) {
            int e = errno;
            reply_t reply = {.status = ST_FAILED, .fd = l->fd, .path = p->path, .holder_pid = -1};
            int used = describe(reply.message, sizeof reply.message, l, p->path);
            if (r == 0) {
                reply.status = blocking ? ST_TIMEOUT : ST_CONFLICT;
                reply.lock = l;
                reply.holder_pid = holder(l);
                snprintf(reply.message + used, sizeof reply.message - (size_t)used, " is held by pid %d",
                         reply.holder_pid);
            } else {
                snprintf(reply.message + used, sizeof reply.message - (size_t)used, ": %s", strerror(e));
            }
            give_back_newest(taken);
            reply.locks_held = (int32_t)nheld;
            send_reply(&reply);
            free(locks);
            in_round = 0;
            return;
        }
        hold(l);
        taken++;
    }
    free(locks);
    reply_status(ST_PREPARED, -1, "", "prepared");
    in_round = 0;
    prepared_once = 1;
}

/* ---- release ---- */

static int handed_over(int fd) {
    for (uint32_t i = 0; i < plan.nhand_over; i++) {
        if (plan.hand_over[i] == fd) {
            return 1;
        }
    }
    return 0;
}

/* Marks every fd but the restored ones and 0-2 close-on-exec, and the restored ones whose
 * flock/OFD locks are handed over too, then becomes the program. */
static void become_program(void) {
    DIR *fds = opendir("/proc/self/fd");
    if (fds == NULL) {
        reply_status(ST_FAILED, -1, "/proc/self/fd", "cannot list /proc/self/fd: %s", strerror(errno));
        _exit(EXIT_EXEC_FAILED);
    }
    struct dirent *e;
    while ((e = readdir(fds)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        int fd = atoi(e->d_name);
        if ((fd > 2 && planned(fd) == NULL && fd != dirfd(fds)) || handed_over(fd)) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    closedir(fds);
    uint32_t envc = 0;
    for (uint32_t i = 0; i < plan.envc; i++) {
        if (strncmp(plan.env[i], "LOCKSTEP_RESTORED=", 18) != 0 && strncmp(plan.env[i], "LOCKSTEP_CHECKPOINT=", 20) != 0) {
            plan.env[envc++] = plan.env[i];
        }
    }
    char *checkpoint = malloc(strlen(plan.checkpoint_id) + sizeof "LOCKSTEP_CHECKPOINT=");
    strcpy(checkpoint, "LOCKSTEP_CHECKPOINT=");
    strcat(checkpoint, plan.checkpoint_id);
    plan.env[envc++] = "LOCKSTEP_RESTORED=1";
    plan.env[envc++] = checkpoint;
    plan.env[envc] = NULL;
    sigprocmask(SIG_SETMASK, &start_mask, NULL);
    execve(program, plan.argv, plan.env);
    reply_status(ST_FAILED, -1, program, "execve of the restart command %s failed: %s", program, strerror(errno));
    _exit(EXIT_EXEC_FAILED);
}

static int connect_to(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(address.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return -1;
    }
    if (connect(s, (struct sockaddr *)&address, sizeof address) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* ---- agent run ---- */

static char *next_field(char **at, const char *end) {
    if (*at >= end) {
        return NULL;
    }
    char *start = *at;
    char *nul = memchr(start, 0, (size_t)(end - start));
    if (nul == NULL) {
        return NULL;
    }
    *at = nul + 1;
    return start;
}

static uint32_t next_count(char **at, const char *end) {
    char *text = next_field(at, end);
    char *rest;
    if (text == NULL || *text == 0) {
        return UINT32_MAX;
    }
    unsigned long n = strtoul(text, &rest, 10);
    return *rest == 0 && n < (1ul << 20) ? (uint32_t)n : UINT32_MAX;
}

static void run_failed(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void run_failed(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lockstep agent run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(EXIT_RUN_FAILED);
}

/* `agent run` starts the program through this mode, as root, with the command's bytes on stdin:
 * NUL-terminated fields cwd, argc, argv[0..argc), envc, env[0..envc) (NAME=value), counts in
 * decimal. The JVM would pass argv, environment and cwd through its locale's charset; here they
 * stay bytes. Then stdin becomes /dev/null, privileges drop to UID:GID (unless it already is them;
 * supplementary groups cleared), and the command is resolved through the program's PATH as that
 * user, like a restore's; errors go to stderr, which is the program's output file. */
static int run_program(const char *uid_text, const char *gid_text) {
    char *rest;
    unsigned long uid = strtoul(uid_text, &rest, 10);
    if (*uid_text == 0 || *rest != 0) {
        run_failed("bad uid %s", uid_text);
    }
    unsigned long gid = strtoul(gid_text, &rest, 10);
    if (*gid_text == 0 || *rest != 0) {
        run_failed("bad gid %s", gid_text);
    }
    size_t size = 0;
    size_t capacity = 4096;
    char *spec = malloc(capacity);
    for (;;) {
        if (size == capacity) {
            if (capacity >= MAX_RUN_SPEC) {
                run_failed("command over %u bytes", MAX_RUN_SPEC);
            }
            capacity *= 2;
            spec = realloc(spec, capacity);
        }
        ssize_t n = read(0, spec + size, capacity - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            run_failed("cannot read the command: %s", strerror(errno));
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
    }
    char *at = spec;
    const char *end = spec + size;
    plan.cwd = next_field(&at, end);
    plan.argc = next_count(&at, end);
    if (plan.cwd == NULL || plan.argc == UINT32_MAX || plan.argc == 0) {
        run_failed("malformed command (cwd, argc)");
    }
    plan.argv = calloc((size_t)plan.argc + 1, sizeof *plan.argv);
    for (uint32_t i = 0; i < plan.argc; i++) {
        if ((plan.argv[i] = next_field(&at, end)) == NULL) {
            run_failed("malformed command (argument %u of %u)", i, plan.argc);
        }
    }
    plan.envc = next_count(&at, end);
    if (plan.envc == UINT32_MAX) {
        run_failed("malformed command (envc)");
    }
    plan.env = calloc((size_t)plan.envc + 1, sizeof *plan.env);
    for (uint32_t i = 0; i < plan.envc; i++) {
        if ((plan.env[i] = next_field(&at, end)) == NULL) {
            run_failed("malformed command (environment entry %u of %u)", i, plan.envc);
        }
    }
    if (at != end) {
        run_failed("malformed command (%zu bytes after the last field)", (size_t)(end - at));
    }
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0) {
        run_failed("cannot open /dev/null as stdin: %s", strerror(errno));
    }
    if (null != 0) {
        close(null);
    }
    if (geteuid() != uid || getegid() != gid) {
        if (setgroups(0, NULL) != 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0
                || setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) {
            run_failed("cannot become uid %lu gid %lu: %s", uid, gid, strerror(errno));
        }
    }
    if (chdir(plan.cwd) != 0) {
        run_failed("chdir %s: %s", plan.cwd, strerror(errno));
    }
    char *command = executable();
    if (command == NULL) {
        run_failed("%s: command not found in PATH", plan.argv[0]);
    }
    execve(command, plan.argv, plan.env);
    run_failed("execve %s: %s", command, strerror(errno));
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--exec") == 0) {
        return run_program(argv[2], argv[3]);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: lockstep-stub CONTROL_SOCKET | lockstep-stub --exec UID GID\n");
        return EXIT_PROTOCOL;
    }
    self_pid = getpid();
    sigprocmask(SIG_SETMASK, NULL, &start_mask);
    control = connect_to(argv[1]);
    if (control < 0) {
        fprintf(stderr, "lockstep restore stub: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return EXIT_AGENT_LOST;
    }
    buf_t hello = {0};
    put_u32(&hello, (uint32_t)self_pid);
    send_frame(MSG_HELLO, &hello);
    free(hello.data);

    frame_t f;
    read_frame(&f);
    if (f.type != MSG_PLAN) {
        refuse("expected a PLAN (type %u) first, got type %u", MSG_PLAN, f.type);
    }
    parse_plan(&f);
    free(f.data);
    if (stage() != 0) {
        return EXIT_STAGE_FAILED;
    }
    for (;;) {
        read_frame(&f);
        if (f.type == MSG_PREPARE) {
            prepare(&f);
            free(f.data);
            if (must_exit) {
                return EXIT_STAGE_FAILED;
            }
        } else if (f.type == MSG_RELEASE) {
            field = "commit";
            uint8_t commit = get_u8(&f);
            expect_end(&f);
            free(f.data);
            if (!commit) {
                return EXIT_ABORTED;
            }
            become_program();
            free(f.data);
        } else {
            refuse("unexpected message type %u after staging", f.type);
        }
    }
}
