/* The raw syscalls of tests/security/test_escapes.py, run inside a container.
 *
 * Built static at test time (gcc -static): busybox has no capsh, no strace, no way to
 * call keyctl, bpf, kexec_load or open_by_handle_at. Each attempt prints one line,
 * "NAME ok" or "NAME ERRNO_NAME", and never stops at a failure.
 *
 *   helper syscalls [PID]   mount, umount, unshare, keyctl, ptrace PID, bpf,
 *                           open_by_handle_at (and kexec_load, with invalid flags)
 *   helper nokexec [PID]    the same without kexec_load (for --privileged)
 *   helper open PATH...     open each PATH for writing (O_WRONLY, no O_CREAT), write nothing
 *   helper read PATH...     open each PATH for reading, read nothing
 *   helper exe SECONDS      opens /proc/N/exe of every process for writing, in a loop
 *   helper caps CAP         capset and the ambient set: raise CAP back; a raw socket
 *   helper ids              real and effective uid
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long result) {
    if (result < 0)
        printf("%s %s\n", name, strerrorname_np(errno));
    else
        printf("%s ok\n", name);
    fflush(stdout);
}

/* unshare in a child, so that a success changes nothing here */
static void unshare_in_child(const char *name, int flags) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(flags) < 0 ? errno : 0);
    int status = 0;
    waitpid(pid, &status, 0);
    errno = WEXITSTATUS(status);
    report(name, errno ? -1 : 0);
}

static int syscalls(pid_t target, int kexec) {
    report("mount", mount("none", "/tmp", "tmpfs", 0, ""));
    report("umount", umount2("/etc/hosts", MNT_DETACH));
    unshare_in_child("unshare_user", CLONE_NEWUSER);
    unshare_in_child("unshare_mount", CLONE_NEWNS);
    report("keyctl", syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, "escape"));
    if (target > 0) {
        long r = ptrace(PTRACE_ATTACH, target, 0, 0);
        report("ptrace", r);
        if (r == 0)
            ptrace(PTRACE_DETACH, target, 0, 0);
    }
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long map = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    report("bpf", map);
    if (map >= 0)
        close(map);
    if (kexec)
        /* flags no kernel knows: even a capable caller gets EINVAL, never a load */
        report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x7ff00000UL));
    /* "shocker": a handle of a file on a host filesystem (/etc/hostname is bound from
       the host's disk) opened by handle, bypassing the container's root */
    struct {
        struct file_handle handle;
        unsigned char bytes[128];
    } h;
    h.handle.handle_bytes = 128;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, "/etc/hostname", &h.handle, &mount_id, 0) < 0) {
        report("name_to_handle_at", -1);
    } else {
        int mount_fd = open("/etc/hostname", O_RDONLY);
        long fd = open_by_handle_at(mount_fd, &h.handle, O_RDONLY);
        report("open_by_handle_at", fd);
        if (fd >= 0)
            close(fd);
        close(mount_fd);
    }
    return 0;
}

static int open_all(int argc, char **argv, int flags) {
    for (int i = 0; i < argc; i++) {
        int fd = open(argv[i], flags);
        report(argv[i], fd);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

/* CVE-2019-5736's first step, in a loop: a handle on any /proc/N/exe for writing */
static int exe(int seconds) {
    time_t end = time(NULL) + seconds;
    long tries = 0, opened = 0, seen = 0;
    pid_t self = getpid();
    while (time(NULL) < end) {
        DIR *proc = opendir("/proc");
        struct dirent *e;
        while ((e = readdir(proc)) != NULL) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self)
                continue;
            char path[64];
            struct stat st;
            snprintf(path, sizeof(path), "/proc/%d/exe", pid);
            int fd = open(path, O_WRONLY);
            tries++;
            if (fd >= 0) {
                fstat(fd, &st);
                printf("opened %s %lu:%lu\n", path, (unsigned long)st.st_dev,
                       (unsigned long)st.st_ino);
                opened++;
                close(fd);
            }
            /* what a patient attacker would keep, to reopen later */
            fd = open(path, O_PATH);
            if (fd >= 0) {
                if (fstat(fd, &st) == 0) {
                    printf("exe %lu:%lu\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
                    seen++;
                }
                close(fd);
            }
        }
        closedir(proc);
    }
    printf("tries %ld opened %ld\n", tries, opened);
    return 0;
}

static int caps(int cap) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    syscall(SYS_capget, &header, data);
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
    data[cap / 32].inheritable |= 1u << (cap % 32);
    report("capset", syscall(SYS_capset, &header, data));
    report("ambient", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
    report("bounding", prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 ? 0 : (errno = EPERM, -1));
    int s = socket(AF_INET, SOCK_RAW, 1 /* ICMP */);
    report("raw_socket", s);
    report("chown", chown("/tmp", 1, 1));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "syscalls") == 0)
        return syscalls(argc > 2 ? atoi(argv[2]) : 0, 1);
    if (argc >= 2 && strcmp(argv[1], "nokexec") == 0)
        return syscalls(argc > 2 ? atoi(argv[2]) : 0, 0);
    if (argc >= 2 && strcmp(argv[1], "open") == 0)
        return open_all(argc - 2, argv + 2, O_WRONLY);
    if (argc >= 2 && strcmp(argv[1], "read") == 0)
        return open_all(argc - 2, argv + 2, O_RDONLY);
    if (argc == 3 && strcmp(argv[1], "exe") == 0)
        return exe(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "caps") == 0)
        return caps(atoi(argv[2]));
    if (argc == 2 && strcmp(argv[1], "ids") == 0) {
        printf("uid %d euid %d\n", getuid(), geteuid());
        return 0;
    }
    fprintf(stderr, "usage: see escape_helper.c\n");
    return 2;
}
