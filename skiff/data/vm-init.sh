#!/bin/sh
# skiff-vm's guest init: PID 1 of the micro-VM, run by busybox-static from the initramfs
# (skiff/vm/initramfs.py). It loads the virtio modules, finds its serial ports by name,
# tells the host it is ready, reads the workload's settings (a shell fragment written by
# skiff/vm/guest_config.py) from the control port, runs the workload with the bundle's
# root, user, cwd, env and rlimits, relays signals from the host, and reports the exit
# code on the control port before powering off.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
grep -q skiff.probe /proc/cmdline && poweroff -f  # skiff/vm/qemu.py's KVM probe
while read -r module; do insmod "/lib/modules/$module" || echo "skiff-vm: insmod $module failed"; done < /modules.order

# limit LETTER SOFT HARD: an rlimit; the hard limit first unless that would undercut the soft.
limit() {
    { ulimit -H"$1" "$3" && ulimit -S"$1" "$2"; } 2>/dev/null || { ulimit -S"$1" "$2"; ulimit -H"$1" "$3"; }
}

port() {
    for dir in /sys/class/virtio-ports/*; do
        [ "$(cat "$dir/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${dir##*/}"; return 0; }
    done
    return 1
}
tries=0
until CONTROL=$(port skiff.control); do
    tries=$((tries + 1))
    [ $tries -gt 500 ] && { echo "skiff-vm: no control port"; poweroff -f; }
    usleep 10000
done
exec 3<>"$CONTROL"
echo ready >&3

: > /config.sh
while IFS= read -r line <&3; do
    [ "$line" = "end" ] && break
    printf '%s\n' "$line" >> /config.sh
done
# shellcheck source=/dev/null
. /config.sh  # sets HOSTNAME, CWD, UID_, GID_, ARGS (quoted), ENVIRON (quoted), and defines setup

hostname "$HOSTNAME"
mkdir -p /newroot
mount -t ext4 -o "$ROOT_OPTIONS" "$(findfs LABEL=skiff-root)" /newroot || { echo "exit 255" >&3; poweroff -f; }
mount -t proc proc /newroot/proc 2>/dev/null
mount -t sysfs sysfs /newroot/sys 2>/dev/null
mount -t devtmpfs devtmpfs /newroot/dev 2>/dev/null
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts 2>/dev/null
mount -t tmpfs shm /newroot/dev/shm 2>/dev/null
setup  # mounts, network and rlimits, from the config
mkdir -p "/newroot$CWD"  # as runc does: a working directory missing from the image is made

exec 4<"$(port skiff.stdin)" 5>"$(port skiff.stdout)" 6>"$(port skiff.stderr)"
eval "set -- $ARGS"
eval "exec env -i $ENVIRON nsenter -r/newroot \"-w/newroot\$CWD\" -S \"\$UID_\" -G \"\$GID_\" -F \"\$@\"" \
    <&4 >&5 2>&6 3>&- 4<&- 5>&- 6>&- &
workload=$!  # the workload itself: the job execs env, env nsenter, nsenter (-F) the workload
exec 0</dev/null 1>/dev/console 2>&1 4<&- 5>&- 6>&-
echo started >&3

# Signals from the host ("signal N") until the workload ends.
(while read -r verb number <&3; do
    [ "$verb" = signal ] && kill "-$number" "$workload"
done) &
relay=$!

wait "$workload"
code=$?
kill "$relay" 2>/dev/null
sync
echo "exit $code" >&3
poweroff -f
