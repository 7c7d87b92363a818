//! Synchronous code runs line after line: `print` runs only after `abc()` returned.
//!
//! ```python
//! def abc():
//!     return
//! abc()
//! print("Hello")
//! ```
//!
//! No runtime is involved: this is the baseline the rest of the tutorial departs from.

use super::console::Console;

/// The tutorial's `abc`: returns at once.
fn abc() {}

/// The program: call `abc`, then print "Hello".
pub fn main(console: &Console) {
    abc();
    console.print("Hello");
}
