//! When a commit that lost a race is tried again: the table's
//! `commit.retry.*` properties, with Java Iceberg's defaults.

use std::time::{Duration, Instant};

use floe_catalog::TableIdent;
use iceberg::spec::TableMetadata;

use crate::error::{FloeError, Result};

/// How often and how patiently a commit is retried (Java Iceberg's
/// `commit.retry.num-retries`, `commit.retry.min-wait-ms`,
/// `commit.retry.max-wait-ms` and `commit.retry.total-timeout-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub num_retries: u32,
    /// The wait before the first retry; each later one waits twice as long.
    pub min_wait: Duration,
    /// The longest wait between two attempts.
    pub max_wait: Duration,
    /// No retry starts once this long has passed since the first attempt.
    pub total_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Java Iceberg's defaults: 4 retries, 100 ms doubling up to 60 s, for
    /// at most 30 minutes.
    fn default() -> Self {
        Self {
            num_retries: 4,
            min_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(60),
            total_timeout: Duration::from_secs(30 * 60),
        }
    }
}

impl RetryPolicy {
    /// The policy a table's properties set; a property that is not a
    /// number is an error naming it.
    pub fn of(table: &TableIdent, metadata: &TableMetadata) -> Result<Self> {
        let properties = metadata.properties();
        let number = |key: &str| -> Result<Option<u64>> {
            properties
                .get(key)
                .map(|value| {
                    value.trim().parse::<u64>().map_err(|_| {
                        FloeError::invalid(format!(
                            "table '{table}' sets {key} = '{value}': expected a whole number"
                        ))
                    })
                })
                .transpose()
        };
        let default = Self::default();
        let ms = |key: &str, default: Duration| -> Result<Duration> {
            Ok(number(key)?.map_or(default, Duration::from_millis))
        };
        Ok(Self {
            num_retries: number("commit.retry.num-retries")?
                .map_or(default.num_retries, |n| n.min(u64::from(u32::MAX)) as u32),
            min_wait: ms("commit.retry.min-wait-ms", default.min_wait)?,
            max_wait: ms("commit.retry.max-wait-ms", default.max_wait)?,
            total_timeout: ms("commit.retry.total-timeout-ms", default.total_timeout)?,
        })
    }

    /// Whether attempt number `attempt` (1 for the first), which failed,
    /// may be followed by another, `started` being when the first began.
    pub fn allows_retry(&self, attempt: u32, started: Instant) -> bool {
        attempt <= self.num_retries && started.elapsed() < self.total_timeout
    }

    /// How long to wait after failed attempt number `attempt`: `min_wait`
    /// doubled per attempt, at most `max_wait`, plus up to a tenth more at
    /// random (as Java's `Tasks` does), so that writers that collided do
    /// not collide again.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        let wait = self.min_wait.saturating_mul(factor).min(self.max_wait);
        let tenth = (wait.as_micros() / 10).max(1) as u64;
        let jitter = uuid::Uuid::new_v4().as_u64_pair().0 % tenth;
        wait + Duration::from_micros(jitter)
    }
}

/// The attempts of one commit under a retry policy: counts them, and
/// after one failed on a lost race says whether another may start, having
/// waited the backoff. The policy is the first table's, learned once its
/// metadata is read; until then, Java's defaults.
#[derive(Debug)]
pub(crate) struct Attempts {
    policy: Option<RetryPolicy>,
    started: Instant,
    attempt: u32,
}

impl Attempts {
    /// Before the first attempt.
    pub(crate) fn new() -> Self {
        Self {
            policy: None,
            started: Instant::now(),
            attempt: 0,
        }
    }

    /// Before the first attempt, under the policy of `table`.
    pub(crate) fn of(table: &TableIdent, metadata: &TableMetadata) -> Result<Self> {
        let mut attempts = Self::new();
        attempts.learn_policy(table, metadata)?;
        Ok(attempts)
    }

    /// Take `table`'s policy, if none was taken yet.
    pub(crate) fn learn_policy(
        &mut self,
        table: &TableIdent,
        metadata: &TableMetadata,
    ) -> Result<()> {
        if self.policy.is_none() {
            self.policy = Some(RetryPolicy::of(table, metadata)?);
        }
        Ok(())
    }

    /// Start the next attempt; returns its number (1 for the first).
    pub(crate) fn begin(&mut self) -> u32 {
        self.attempt += 1;
        self.attempt
    }

    /// The current attempt lost a race: whether another may start (after
    /// this returns, the backoff has been waited).
    pub(crate) async fn again(&self) -> bool {
        let policy = self.policy.unwrap_or_default();
        if !policy.allows_retry(self.attempt, self.started) {
            return false;
        }
        tokio::time::sleep(policy.backoff(self.attempt)).await;
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn metadata(properties: &[(&str, &str)]) -> TableMetadata {
        let schema = iceberg::spec::Schema::builder()
            .with_fields(vec![std::sync::Arc::new(
                iceberg::spec::NestedField::optional(
                    1,
                    "id",
                    iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::Long),
                ),
            )])
            .build()
            .unwrap();
        iceberg::spec::TableMetadataBuilder::new(
            schema,
            iceberg::spec::UnboundPartitionSpec::builder().build(),
            iceberg::spec::SortOrder::unsorted_order(),
            "file:///wh/db/t".into(),
            iceberg::spec::FormatVersion::V2,
            properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
        .build()
        .unwrap()
        .metadata
    }

    fn ident() -> TableIdent {
        TableIdent::from_strs(["db", "t"]).unwrap()
    }

    #[test]
    fn java_defaults_unless_the_table_says_otherwise() {
        assert_eq!(
            RetryPolicy::of(&ident(), &metadata(&[])).unwrap(),
            RetryPolicy::default()
        );
        let policy = RetryPolicy::of(
            &ident(),
            &metadata(&[
                ("commit.retry.num-retries", "9"),
                ("commit.retry.min-wait-ms", "5"),
                ("commit.retry.max-wait-ms", "40"),
                ("commit.retry.total-timeout-ms", "1000"),
            ]),
        )
        .unwrap();
        assert_eq!(
            policy,
            RetryPolicy {
                num_retries: 9,
                min_wait: Duration::from_millis(5),
                max_wait: Duration::from_millis(40),
                total_timeout: Duration::from_secs(1),
            }
        );
        let err =
            RetryPolicy::of(&ident(), &metadata(&[("commit.retry.num-retries", "x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "table 'db.t' sets commit.retry.num-retries = 'x': expected a whole number"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_max_with_a_tenth_of_jitter() {
        let policy = RetryPolicy {
            num_retries: 10,
            min_wait: Duration::from_millis(100),
            max_wait: Duration::from_millis(500),
            total_timeout: Duration::from_secs(60),
        };
        for (attempt, base) in [(1, 100), (2, 200), (3, 400), (4, 500), (9, 500)] {
            let wait = policy.backoff(attempt);
            let base = Duration::from_millis(base);
            assert!(
                wait >= base && wait < base + base / 10,
                "{attempt}: {wait:?}"
            );
        }
        let started = Instant::now();
        assert!(policy.allows_retry(10, started));
        assert!(!policy.allows_retry(11, started));
        let timed_out = RetryPolicy {
            total_timeout: Duration::ZERO,
            ..policy
        };
        assert!(!timed_out.allows_retry(1, started));
    }
}
