//! loom model of the park/unpark protocol: a task published while the worker is going to
//! sleep is never stranded. loom reports a deadlock if the worker can end up parked with the
//! task still queued and nobody left to wake it.

use super::idle::Idle;
use crate::scheduler::park::Parker;
use loom::sync::{Arc, Mutex};
use loom::thread;

/// One worker, one spawner on another thread, one task.
#[test]
fn loom_task_spawned_while_worker_parks_always_runs() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1));
        let parker = Arc::new(Parker::new());
        let queue = Arc::new(Mutex::new(0usize));

        let spawner = {
            let (idle, parker, queue) = (idle.clone(), parker.clone(), queue.clone());
            thread::spawn(move || {
                *queue.lock().unwrap() += 1;
                if let Some(worker) = idle.worker_to_notify() {
                    assert_eq!(worker, 0);
                    parker.unpark_with(|| unreachable!("no driver in this model"));
                }
            })
        };

        // The worker loop, reduced to finding the task or parking.
        loop {
            {
                let mut q = queue.lock().unwrap();
                if *q > 0 {
                    *q -= 1;
                    break;
                }
            }
            idle.register_sleeper(0);
            if *queue.lock().unwrap() > 0 {
                idle.unregister_sleeper(0);
                continue;
            }
            parker.park_condvar(None);
            idle.unregister_sleeper(0);
        }
        spawner.join().unwrap();
    });
}

/// Two unparks racing one park: the parker returns, and a later park returns at once if a
/// notification is left over (it is never lost, never blocks forever).
#[test]
fn loom_unpark_before_park_is_not_lost() {
    loom::model(|| {
        let parker = Arc::new(Parker::new());
        let p = parker.clone();
        let t = thread::spawn(move || p.unpark_with(|| unreachable!()));
        parker.park_condvar(None);
        t.join().unwrap();
    });
}
