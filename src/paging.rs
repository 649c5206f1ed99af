//! Following a server's continuation tokens without trusting them. A token the server has
//! sent before means the listing would go round forever (A, B, A, B, ... as well as A, A):
//! Brent's cycle detection finds any such loop within three times the pages it takes to
//! come round (the pages before the loop plus the loop), remembering one token, so a
//! hostile or broken server costs bounded time and memory.

pub struct Tokens<T> {
    /// The token the later ones are compared with, moved ahead at powers of two.
    checkpoint: Option<T>,
    power: u64,
    steps: u64,
}

impl<T: PartialEq + Clone> Tokens<T> {
    pub fn new() -> Self {
        Tokens { checkpoint: None, power: 1, steps: 0 }
    }

    /// Whether `next` (the token the server says comes next) continues the listing: `false`
    /// when the server is going round in a loop. Nothing is recorded then, so asking for
    /// the same page again is judged the same way.
    pub fn advance(&mut self, next: &T) -> bool {
        if self.checkpoint.as_ref() == Some(next) {
            return false;
        }
        self.steps += 1;
        if self.steps == self.power {
            self.checkpoint = Some(next.clone());
            self.power = self.power.saturating_mul(2);
            self.steps = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Tokens;

    /// The first index at which `sequence` is judged a loop, if any.
    fn caught(sequence: impl IntoIterator<Item = u32>) -> Option<usize> {
        let mut tokens = Tokens::new();
        sequence.into_iter().position(|t| !tokens.advance(&t))
    }

    #[test]
    fn distinct_tokens_are_never_a_loop() {
        assert_eq!(caught(0..100_000), None);
    }

    #[test]
    fn every_loop_is_caught_within_three_times_its_length() {
        assert_eq!(caught([7, 7]), Some(1));
        assert_eq!(caught([1, 2, 1, 2]), Some(2));
        for lead in [0u32, 1, 5, 100] {
            for cycle in [1u32, 2, 3, 7, 64, 1000] {
                let sequence = (0..lead).map(|i| 1_000_000 + i).chain((0..).map(move |i| i % cycle)).take(100_000);
                let at = caught(sequence).unwrap_or_else(|| panic!("lead {lead}, cycle {cycle} not caught"));
                assert!(at as u32 <= 3 * (lead + cycle), "lead {lead}, cycle {cycle}: caught only at {at}");
            }
        }
    }
}
