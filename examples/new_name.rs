//! "old name is John", then two seconds later "new name is :" and "Harry".
//! `cargo run --example new_name`

use ringloop_examples::tutorial::{console::Console, new_name};

fn main() {
    ringloop::run(new_name::main(Console::stdout()));
}
