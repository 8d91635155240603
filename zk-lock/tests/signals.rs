//! What zk-lock does to its command's process group: SIGKILL after
//! `--kill-after` when the command ignores SIGTERM, forwarded SIGHUP, SIGQUIT
//! and SIGINT, no grandchild of `-c 'a | b'` left behind, and waiters served
//! in the order they queued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{lock, wait_for_queue};
use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared, wait_for_file, wait_until, Zk};

const T: Duration = Duration::from_secs(30);

/// Live (not zombie) processes whose process group is `pgid`.
fn live_members_of(pgid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // After the command name: state, ppid, pgrp.
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
        .collect()
}

#[test]
fn a_command_ignoring_sigterm_is_killed_after_kill_after_when_the_lock_is_lost() {
    require_zookeeper!();
    let connect = shared().chroot("lock-kill-after");
    let zk = Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (info, events) = (dir.path().join("info"), dir.path().join("events"));
    // TERM ignored by the shell and, inherited, by its children.
    let script = format!(
        "trap '' TERM; echo \"$$ $ZK_NODE\" > {}; while :; do sleep 0.02; done",
        info.display()
    );
    let mut holder = lock().zk(&connect).spawn(&[
        "--kill-after",
        "1s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &script,
    ]);
    let info = wait_for_file(&info, T);
    let (pid, node) = info.trim().split_once(' ').unwrap();
    let pid: i32 = pid.parse().unwrap();
    let lost_at = Instant::now();
    zk.delete(node).unwrap();
    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "a lost lock exits 79; events: {}",
        std::fs::read_to_string(&events).unwrap_or_default()
    );
    // A lower bound, which load cannot break: TERM was ignored, so only the
    // SIGKILL, kill-after after it, ended the command.
    let took = lost_at.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "the command was gone {took:?} after the loss, before --kill-after 1s"
    );
    assert_eq!(
        live_members_of(pid),
        Vec::<i32>::new(),
        "the command's group outlived the tool"
    );
}

#[test]
fn sighup_and_sigquit_are_forwarded_to_the_command() {
    require_zookeeper!();
    let connect = shared().chroot("lock-hup-quit");
    let dir = tempfile::tempdir().unwrap();
    let (got, ready) = (dir.path().join("got"), dir.path().join("ready"));
    let script = format!(
        "trap 'echo HUP >> {g}' HUP; trap 'echo QUIT >> {g}' QUIT; echo ready > {r}; \
         while :; do sleep 0.02; done",
        g = got.display(),
        r = ready.display()
    );
    let mut holder = lock().zk(&connect).spawn(&["/l", "-c", &script]);
    wait_for_file(&ready, T);
    holder.signal(Signal::SIGHUP);
    assert_eq!(wait_for_file(&got, T), "HUP\n");
    holder.signal(Signal::SIGQUIT);
    wait_until("QUIT arrives", T, || {
        std::fs::read_to_string(&got).unwrap() == "HUP\nQUIT\n"
    });
    assert_eq!(
        holder.child.try_wait().unwrap(),
        None,
        "a handled HUP or QUIT must not end the tool"
    );
    holder.signal(Signal::SIGTERM);
    assert_eq!(
        holder.wait(T).code(),
        Some(143),
        "the command died of the forwarded TERM"
    );
}

/// SIGINT sent to zk-lock alone (the command runs in a process group of
/// its own, which a terminal's Ctrl-C does not reach) goes on to the
/// command: a command that handles it runs on, and the tool with it; one
/// that dies of it gives the tool its status, 130.
#[test]
fn sigint_is_forwarded_to_the_command() {
    require_zookeeper!();
    let connect = shared().chroot("lock-int");
    let dir = tempfile::tempdir().unwrap();
    let (got, ready) = (dir.path().join("got"), dir.path().join("ready"));
    let script = format!(
        "trap 'echo INT >> {g}' INT; echo ready > {r}; while :; do sleep 0.02; done",
        g = got.display(),
        r = ready.display()
    );
    let mut holder = lock().zk(&connect).spawn(&["/l", "-c", &script]);
    wait_for_file(&ready, T);
    holder.signal(Signal::SIGINT);
    assert_eq!(wait_for_file(&got, T), "INT\n");
    assert_eq!(
        holder.child.try_wait().unwrap(),
        None,
        "a handled INT must not end the tool"
    );
    holder.signal(Signal::SIGTERM);
    assert_eq!(holder.wait(T).code(), Some(143));

    // Unhandled, INT kills the command, and zk-lock exits as a shell
    // reports that.
    let ready = dir.path().join("ready-unhandled");
    let mut holder = lock().zk(&connect).spawn(&[
        "/l",
        "-c",
        &format!("echo ready > {}; exec sleep 600", ready.display()),
    ]);
    wait_for_file(&ready, T);
    holder.signal(Signal::SIGINT);
    assert_eq!(
        holder.wait(T).code(),
        Some(130),
        "the command died of the forwarded INT"
    );
}

#[test]
fn no_grandchild_of_a_pipeline_outlives_the_tool() {
    require_zookeeper!();
    let connect = shared().chroot("lock-pipeline");
    let zk = Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("info");
    let script = format!(
        "echo \"$$ $ZK_NODE\" > {}; sleep 1000 | sleep 1001",
        info.display()
    );
    // Once stopped by a signal to the tool, once by the loss of the lock.
    for lose_the_lock in [false, true] {
        std::fs::remove_file(&info).ok();
        let mut holder = lock().zk(&connect).spawn(&["/l", "-c", &script]);
        let text = wait_for_file(&info, T);
        let (pid, node) = text.trim().split_once(' ').unwrap();
        let pid: i32 = pid.parse().unwrap();
        wait_until("both sides of the pipe run", T, || {
            live_members_of(pid).len() >= 3
        });
        let code = if lose_the_lock {
            zk.delete(node).unwrap();
            79
        } else {
            holder.signal(Signal::SIGTERM);
            143
        };
        assert_eq!(holder.wait(T).code(), Some(code));
        assert_eq!(
            live_members_of(pid),
            Vec::<i32>::new(),
            "a grandchild outlived the tool (lost the lock: {lose_the_lock})"
        );
    }
}

#[test]
fn waiters_get_the_lock_in_the_order_they_queued() {
    require_zookeeper!();
    let connect = shared().chroot("lock-fifo");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let mut waiters: Vec<_> = (1..=4)
        .map(|i| {
            let waiter =
                lock()
                    .zk(&connect)
                    .spawn(&["/l", "-c", &format!("echo {i} >> {}", log.display())]);
            // Queued before the next one starts: the queue order is known.
            wait_for_queue(&connect, "/l", i + 1);
            waiter
        })
        .collect();
    holder.close_stdin();
    for waiter in &mut waiters {
        assert_eq!(waiter.wait(T).code(), Some(0));
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "1\n2\n3\n4\n");
}
