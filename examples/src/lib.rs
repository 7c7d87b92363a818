//! ringloop's runnable examples, and the pieces they share.
//!
//! # The asyncio tutorial, ported one-to-one
//!
//! Every example of the asyncio tutorial (`asyncio-tutorial.txt` in the project's shared
//! notes) is a program here, run with `cargo run --example NAME` from the workspace root:
//!
//! | example | the tutorial's program | module |
//! |---|---|---|
//! | `sequential` | `abc()` returns, then `print("Hello")` | [`tutorial::sequential`] |
//! | `never_awaited` | `main()` called but never awaited | [`tutorial::never_awaited`] |
//! | `welcome` | `asyncio.run(main())` printing "Welcome" | [`tutorial::welcome`] |
//! | `new_name` | `await new('Harry')` after a 2 s sleep | [`tutorial::new_name`] |
//! | `two_coroutines` | `loop.run_until_complete(asyncio.wait([cor1(), cor2()]))` | [`tutorial::two_coroutines`] |
//! | `create_task` | two tasks, "started at" / "finished at" | [`tutorial::create_task`] |
//! | `gather_wait_for` | three printers under `gather`, inside `wait_for(..., 3)` | [`tutorial::gather_wait_for`] |
//!
//! Each program's body is a function of this library that prints through a
//! [`Console`](tutorial::console::Console) instead of `println!`. The program (`examples/NAME.rs`)
//! calls it with a console that prints, on the real clock; the tutorial test
//! (`tests/tests/tutorial.rs`) calls the same body on a virtual clock, so a program that
//! sleeps for seconds finishes at once, and checks every line, their order, and the (virtual)
//! time at which each was printed.

pub mod tutorial;
