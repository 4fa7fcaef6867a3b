//! Flags made from the kind table, so a kind's fields and a person's identifiers are declared
//! once: `enqueue`'s `--bvn`, `--rc-number`, ... and `job find`'s and `erase`'s `--bvn`,
//! `--nin`, `--nuban`.

use clap::{Arg, ArgGroup, ArgMatches, Args, Command, FromArgMatches};
use okra_queue::ident::IdType;
use okra_queue::okra::kinds::{self, Field, Shape};

use crate::Usage;

fn flag(name: &str) -> String {
    name.replace('_', "-")
}

fn taken(m: &mut ArgMatches, id: &str) -> Option<String> {
    m.try_remove_one::<String>(id).ok().flatten()
}

/// Every kind's fields as `--name VALUE` (one flag for a field several kinds share).
#[derive(Debug, Clone, Default)]
pub struct KindFields(pub Vec<(&'static str, String)>);

fn field_help(f: &Field) -> String {
    let users: Vec<&str> = kinds::KINDS
        .iter()
        .filter(|k| k.field(f.name).is_some())
        .map(|k| k.name)
        .collect();
    let shape = match f.shape {
        Shape::Digits(n) => format!(", {n} digits"),
        Shape::Text => String::new(),
    };
    let mut doc = f.doc.to_string();
    if let Some(c) = doc.get_mut(0..1) {
        c.make_ascii_uppercase();
    }
    format!("{doc}{shape} ({}).", users.join(", "))
}

impl FromArgMatches for KindFields {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(
            kinds::all_fields()
                .into_iter()
                .filter_map(|f| taken(m, f.name).map(|v| (f.name, v)))
                .collect(),
        ))
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for KindFields {
    fn augment_args(cmd: Command) -> Command {
        kinds::all_fields().into_iter().fold(cmd, |cmd, f| {
            cmd.arg(
                Arg::new(f.name)
                    .long(flag(f.name))
                    .value_name(f.name.to_ascii_uppercase())
                    .help_heading("Job fields (from the kind table)")
                    .help(field_help(f)),
            )
        })
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

/// A person by identifier: at most one of `--bvn`, `--nin`, `--nuban` (`job find`, `erase`).
#[derive(Debug, Clone, Default)]
pub struct PersonArgs(Option<(IdType, String)>);

impl PersonArgs {
    /// The identifier given, checked (a usage error that does not echo it: clap's would).
    pub fn person(&self) -> Result<Option<(IdType, &str)>, Usage> {
        let Some((ty, v)) = &self.0 else {
            return Ok(None);
        };
        ty.check(v).map_err(Usage)?;
        Ok(Some((*ty, v.as_str())))
    }
}

impl FromArgMatches for PersonArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut m.clone())
    }
    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(
            IdType::ALL
                .into_iter()
                .find_map(|ty| taken(m, ty.as_str()).map(|v| (ty, v))),
        ))
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for PersonArgs {
    fn augment_args(cmd: Command) -> Command {
        let cmd = IdType::ALL.into_iter().fold(cmd, |cmd, ty| {
            cmd.arg(
                Arg::new(ty.as_str())
                    .long(ty.as_str())
                    .value_name(ty.as_str().to_ascii_uppercase())
                    .help(format!("A {} ({} digits).", ty.label(), ty.digits())),
            )
        });
        cmd.group(
            ArgGroup::new("person")
                .args(IdType::ALL.map(IdType::as_str))
                .multiple(false),
        )
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
