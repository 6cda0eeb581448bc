//! The order of a pipeline's steps, from the tables each model reads.

use std::collections::{BTreeMap, BTreeSet};

use floe_engine::TableIdent;

use crate::error::{PipelineError, Result};
use crate::spec::Pipeline;

/// One step: a source's ingest or a model's computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// `pipeline.sources[i]`.
    Source(usize),
    /// `pipeline.models[i]`.
    Model(usize),
}

/// The steps in the order they run, with what each depends on.
#[derive(Debug, Clone)]
pub struct Dag {
    /// Every step, each after the steps it reads from.
    pub order: Vec<Step>,
    /// The steps each step reads from.
    pub upstream: BTreeMap<Step, BTreeSet<Step>>,
    /// Which step writes each table.
    pub producers: BTreeMap<TableIdent, Step>,
}

impl Step {
    /// The step's file (`bronze/orders.toml`, `silver/orders.sql`).
    pub fn file(self, pipeline: &Pipeline) -> &str {
        match self {
            Self::Source(i) => &pipeline.sources[i].file,
            Self::Model(i) => &pipeline.models[i].file,
        }
    }

    /// The table the step writes.
    pub fn target(self, pipeline: &Pipeline) -> &TableIdent {
        match self {
            Self::Source(i) => &pipeline.sources[i].table,
            Self::Model(i) => &pipeline.models[i].target,
        }
    }
}

impl Dag {
    /// Order `pipeline`'s steps. Two steps writing one table, and models
    /// that read each other in a circle, are errors that name them.
    pub fn build(pipeline: &Pipeline) -> Result<Self> {
        let mut producers: BTreeMap<TableIdent, Step> = BTreeMap::new();
        let steps: Vec<Step> = (0..pipeline.sources.len())
            .map(Step::Source)
            .chain((0..pipeline.models.len()).map(Step::Model))
            .collect();
        for &step in &steps {
            let target = step.target(pipeline).clone();
            if let Some(other) = producers.insert(target.clone(), step) {
                return Err(PipelineError::spec(
                    step.file(pipeline),
                    format!(
                        "table {target} is written by {} already; a table has one step",
                        other.file(pipeline)
                    ),
                ));
            }
        }
        let mut upstream: BTreeMap<Step, BTreeSet<Step>> = BTreeMap::new();
        for &step in &steps {
            let reads = match step {
                Step::Source(_) => BTreeSet::new(),
                Step::Model(i) => pipeline.models[i]
                    .reads
                    .iter()
                    .filter_map(|t| producers.get(t).copied())
                    .collect(),
            };
            upstream.insert(step, reads);
        }
        // Kahn's algorithm; among ready steps, sources first, then silver,
        // then gold, each by file name.
        let rank = |step: &Step| {
            (
                matches!(step, Step::Model(_)),
                step.file(pipeline).to_string(),
            )
        };
        let mut remaining = upstream.clone();
        let mut order = Vec::with_capacity(steps.len());
        loop {
            let mut ready: Vec<Step> = remaining
                .iter()
                .filter(|(_, deps)| deps.is_empty())
                .map(|(step, _)| *step)
                .collect();
            if ready.is_empty() {
                break;
            }
            ready.sort_by_key(|s| rank(s));
            let next = ready[0];
            remaining.remove(&next);
            for deps in remaining.values_mut() {
                deps.remove(&next);
            }
            order.push(next);
        }
        if !remaining.is_empty() {
            return Err(PipelineError::Cycle(describe_cycle(pipeline, &remaining)));
        }
        Ok(Self {
            order,
            upstream,
            producers,
        })
    }

    /// Every step downstream of `step` (not itself).
    pub fn downstream(&self, step: Step) -> BTreeSet<Step> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![step];
        while let Some(current) = frontier.pop() {
            for (other, deps) in &self.upstream {
                if deps.contains(&current) && out.insert(*other) {
                    frontier.push(*other);
                }
            }
        }
        out
    }
}

/// `silver/a.sql (silver.a) → silver/b.sql (silver.b) → silver/a.sql`.
fn describe_cycle(pipeline: &Pipeline, remaining: &BTreeMap<Step, BTreeSet<Step>>) -> String {
    // Walk upstream from any remaining step until a step repeats.
    let Some(mut current) = remaining.keys().next().copied() else {
        return String::new();
    };
    let mut path = vec![current];
    while let Some(next) = remaining
        .get(&current)
        .and_then(|d| d.iter().next())
        .copied()
    {
        if let Some(start) = path.iter().position(|s| *s == next) {
            let mut cycle: Vec<Step> = path[start..].to_vec();
            // Upstream walk: reverse it to read in the direction data flows.
            cycle.reverse();
            if let Some(first) = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| **s)
                .map(|(i, _)| i)
            {
                cycle.rotate_left(first);
            }
            cycle.push(cycle[0]);
            return cycle
                .iter()
                .map(|s| format!("{} ({})", s.file(pipeline), s.target(pipeline)))
                .collect::<Vec<_>>()
                .join(" → ");
        }
        path.push(next);
        current = next;
    }
    String::new()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pipeline(models: &[(&str, &str)]) -> Pipeline {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pipeline.toml"), "name = \"p\"\n").unwrap();
        std::fs::create_dir_all(dir.path().join("bronze")).unwrap();
        std::fs::write(
            dir.path().join("bronze/raw.toml"),
            "source = \"in/*.csv\"\nformat = \"csv\"\ntable = \"bronze.raw\"\n",
        )
        .unwrap();
        for (file, text) in models {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Pipeline::load(dir.path()).unwrap()
    }

    #[test]
    fn order_follows_reads() {
        let p = pipeline(&[
            (
                "gold/a.sql",
                "-- target: gold.a\nSELECT * FROM silver.x JOIN silver.y USING (k)",
            ),
            (
                "silver/y.sql",
                "-- target: silver.y\nSELECT * FROM silver.x",
            ),
            (
                "silver/x.sql",
                "-- target: silver.x\nSELECT * FROM bronze.raw",
            ),
        ]);
        let dag = Dag::build(&p).unwrap();
        let files: Vec<&str> = dag.order.iter().map(|s| s.file(&p)).collect();
        assert_eq!(
            files,
            [
                "bronze/raw.toml",
                "silver/x.sql",
                "silver/y.sql",
                "gold/a.sql"
            ]
        );
        let down: Vec<&str> = dag
            .downstream(Step::Source(0))
            .iter()
            .map(|s| s.file(&p))
            .collect();
        assert_eq!(down, ["silver/x.sql", "silver/y.sql", "gold/a.sql"]);
    }

    #[test]
    fn a_cycle_is_named() {
        let p = pipeline(&[
            (
                "silver/a.sql",
                "-- target: silver.a\nSELECT * FROM silver.c",
            ),
            (
                "silver/b.sql",
                "-- target: silver.b\nSELECT * FROM silver.a",
            ),
            (
                "silver/c.sql",
                "-- target: silver.c\nSELECT * FROM silver.b JOIN bronze.raw USING (k)",
            ),
        ]);
        assert_eq!(
            Dag::build(&p).unwrap_err().to_string(),
            "the pipeline's models form a cycle: silver/a.sql (silver.a) → silver/b.sql (silver.b) \
             → silver/c.sql (silver.c) → silver/a.sql (silver.a)"
        );
    }

    #[test]
    fn one_table_one_step() {
        let p = pipeline(&[
            (
                "silver/a.sql",
                "-- target: silver.a\nSELECT * FROM bronze.raw",
            ),
            ("silver/b.sql", "-- target: silver.a\nSELECT 1 AS k"),
        ]);
        assert_eq!(
            Dag::build(&p).unwrap_err().to_string(),
            "silver/b.sql: table silver.a is written by silver/a.sql already; a table has one step"
        );
    }
}
