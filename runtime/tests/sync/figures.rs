//! Figures, ignored by default: run by hand in release; they print, they assert nothing about speed.

use super::*;

// ---------------------------------------------------------------------------------------------
// Figures (ignored: run by hand, in release)

/// Ping-pong between two tasks over two `Queue::new(1)`, against a baseline measured in the
/// same run: the same ping-pong over two hand-written one-slot channels (a std `Mutex` holding
/// the item and the waker), the least a queue could cost. Prints ns per round trip and the
/// ratio; asserts nothing about speed.
///
/// `cargo test -p ringloop --release --test sync -- --ignored --nocapture ping_pong`
#[test]
#[ignore]
fn ping_pong_round_trip() {
    const ROUNDS: u64 = 50_000;
    const REPEATS: usize = 21;

    #[derive(Default)]
    struct Slot(Mutex<(Option<u64>, Option<Waker>, Option<Waker>)>);
    impl Slot {
        fn send(&self, v: u64) -> impl Future<Output = ()> + '_ {
            let mut v = Some(v);
            std::future::poll_fn(move |cx| {
                let mut s = self.0.lock().unwrap();
                if s.0.is_some() {
                    s.2 = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                s.0 = v.take();
                let w = s.1.take();
                drop(s);
                if let Some(w) = w {
                    w.wake();
                }
                Poll::Ready(())
            })
        }
        fn recv(&self) -> impl Future<Output = u64> + '_ {
            std::future::poll_fn(move |cx| {
                let mut s = self.0.lock().unwrap();
                match s.0.take() {
                    Some(v) => {
                        let w = s.2.take();
                        drop(s);
                        if let Some(w) = w {
                            w.wake();
                        }
                        Poll::Ready(v)
                    }
                    None => {
                        s.1 = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        }
    }

    /// Spawns `echo` and `drive` as two tasks and returns ns per round trip of `drive`.
    async fn time_pair<E, D>(echo: E, drive: D) -> f64
    where
        E: Future<Output = ()> + Send + 'static,
        D: Future<Output = ()> + Send + 'static,
    {
        let echo = ringloop::create_task(echo);
        let start = Instant::now();
        ringloop::create_task(drive).await.unwrap();
        let ns = start.elapsed().as_nanos() as f64 / ROUNDS as f64;
        echo.await.unwrap();
        ns
    }

    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        let rt = runtime(flavor);
        let (queue_ns, slot_ns) = rt.block_on(async {
            // Interleaved, so both see the same machine load; min and median over the repeats.
            let (mut qs, mut ss) = (Vec::new(), Vec::new());
            for _ in 0..REPEATS {
                let (ping, pong) = (Arc::new(Queue::new(1)), Arc::new(Queue::new(1)));
                let (p2, q2) = (ping.clone(), pong.clone());
                let q = time_pair(
                    async move {
                        for _ in 0..ROUNDS {
                            let v = p2.get().await.unwrap();
                            q2.put(v + 1).await.unwrap();
                        }
                    },
                    async move {
                        for i in 0..ROUNDS {
                            ping.put(i).await.unwrap();
                            assert_eq!(pong.get().await.unwrap(), i + 1);
                        }
                    },
                )
                .await;

                let (a, b) = (Arc::new(Slot::default()), Arc::new(Slot::default()));
                let (a2, b2) = (a.clone(), b.clone());
                let s = time_pair(
                    async move {
                        for _ in 0..ROUNDS {
                            let v = a2.recv().await;
                            b2.send(v + 1).await;
                        }
                    },
                    async move {
                        for i in 0..ROUNDS {
                            a.send(i).await;
                            assert_eq!(b.recv().await, i + 1);
                        }
                    },
                )
                .await;
                qs.push(q);
                ss.push(s);
            }
            qs.sort_by(f64::total_cmp);
            ss.sort_by(f64::total_cmp);
            ((qs[0], qs[REPEATS / 2]), (ss[0], ss[REPEATS / 2]))
        });
        println!(
            "ping-pong {flavor:?} (ns/round trip, min / median of {REPEATS}): \
             Queue(1) {:.0} / {:.0}, bare one-slot baseline {:.0} / {:.0}, \
             ratio of medians {:.2}",
            queue_ns.0,
            queue_ns.1,
            slot_ns.0,
            slot_ns.1,
            queue_ns.1 / slot_ns.1
        );
    }
}

/// The queue's own cost per operation, with no runtime: one thread, futures polled by hand
/// with a no-op waker, against the bare one-slot `Mutex` channel of `ping_pong_round_trip`
/// doing the same steps. Prints ns per step; asserts nothing about speed.
///
/// `cargo test -p ringloop --release --test sync -- --ignored --nocapture queue_operation_costs`
#[test]
#[ignore]
fn queue_operation_costs() {
    const N: u32 = 1_000_000;
    let waker = Waker::noop();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        f();
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    let q = Queue::new(1);
    let bare: Mutex<(Option<u32>, Option<Waker>)> = Mutex::new((None, None));
    let (mut nowait, mut cycle, mut base_nowait, mut base_cycle) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..11 {
        // put_nowait + get_nowait: the uncontended path.
        nowait.push(time(&mut || {
            for i in 0..N {
                q.put_nowait(i).unwrap();
                std::hint::black_box(q.get_nowait().unwrap());
            }
        }));
        base_nowait.push(time(&mut || {
            for i in 0..N {
                bare.lock().unwrap().0 = Some(i);
                std::hint::black_box(bare.lock().unwrap().0.take().unwrap());
            }
        }));
        // A get that waits: poll (Pending, joins the line), put_nowait (wakes it), poll (Ready).
        cycle.push(time(&mut || {
            for i in 0..N {
                let mut get = q.get();
                assert!(poll(&mut get, waker).is_pending());
                q.put_nowait(i).unwrap();
                assert_eq!(poll(&mut get, waker), Poll::Ready(Ok(i)));
            }
        }));
        base_cycle.push(time(&mut || {
            for i in 0..N {
                {
                    let mut s = bare.lock().unwrap();
                    assert!(s.0.is_none());
                    s.1 = Some(waker.clone());
                }
                let w = {
                    let mut s = bare.lock().unwrap();
                    s.0 = Some(i);
                    s.1.take()
                };
                w.unwrap().wake();
                assert_eq!(bare.lock().unwrap().0.take(), Some(i));
            }
        }));
    }
    println!(
        "queue op costs (ns, median of 11 x {N}): put_nowait+get_nowait {:.1} (bare {:.1}); \
         waiting get cycle {:.1} (bare {:.1})",
        median(nowait),
        median(base_nowait),
        median(cycle),
        median(base_cycle)
    );
}
