//! What one remedy does to one table of one partition, whatever its kind: what the session
//! collects, staging writes, and the plan records.

use super::add::AddAction;
use super::aside::AsideAction;
use super::derive::DeriveAction;
use super::fill::FillAction;
use super::onesym::{ReenumAction, SymAction};
use super::spec::Remedy;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A derived column (and the table's `.d` rewritten).
    Derive(DeriveAction),
    /// A whole new (empty) table directory.
    Fill(FillAction),
    /// Null-filled columns (and the table's `.d` rewritten, unless a derivation does it).
    Add(AddAction),
    /// Columns re-enumerated onto `sym` (one-sym).
    Reenum(ReenumAction),
    /// The new root `sym` (one-sym's appends), one for the whole plan.
    Sym(SymAction),
    /// An entry moved out of the database, to `smstage-aside/` (set-aside).
    Aside(AsideAction),
}

impl Action {
    /// The table directory it writes, relative to the baseURI.
    pub fn dir(&self) -> &str {
        match self {
            Action::Derive(a) => &a.dir,
            Action::Fill(a) => &a.dir,
            Action::Add(a) => &a.dir,
            Action::Reenum(a) => &a.dir,
            Action::Sym(a) => &a.dir,
            Action::Aside(a) => &a.path,
        }
    }

    /// Whether `remedy` (as given) is the one that asked for it.
    pub fn is_of(&self, remedy: &Remedy) -> bool {
        match (self, remedy) {
            (Action::Derive(a), Remedy::DerivePrtnCol { table, source }) => {
                table.matches(&a.table) && source == &a.source
            }
            (Action::Fill(_), Remedy::FillTables) => true,
            (Action::Add(_), Remedy::AddColumns) => true,
            (Action::Reenum(_), Remedy::OneSym) => true,
            (Action::Sym(s), Remedy::OneSym) => !s.from.is_empty(),
            (Action::Sym(s), Remedy::AddColumns) => s.empty_for_nulls,
            (Action::Aside(_), Remedy::SetAside) => true,
            _ => false,
        }
    }

    /// One line: what it will write.
    pub fn describe(&self) -> String {
        match self {
            Action::Derive(a) => super::session::describe(a),
            Action::Fill(a) => super::fill::describe(a),
            Action::Add(a) => super::add::describe(a),
            Action::Reenum(a) => super::onesym::describe(a),
            Action::Sym(a) => super::onesym::describe_sym(a),
            Action::Aside(a) => super::aside::describe(a),
        }
    }
}
