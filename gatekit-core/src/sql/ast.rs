//! Classification from sqlparser's syntax tree: the classes of every statement that runs
//! (including data-modifying CTEs and what `EXPLAIN ANALYZE` executes), the tables and
//! functions named, and whether the statement narrows its rows with `WHERE`.

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    CommentObject, CopySource, CopyTarget, Expr, GrantObjects, Ident, MergeAction, ObjectName,
    ObjectType, Query, SetExpr, Statement, TableFactor, TableObject, Value, Visit, Visitor,
};

use super::objects::qualify;
use crate::class::{Class, ClassSet};

/// What the tree says about one top-level statement.
#[derive(Debug, Default)]
pub(crate) struct AstFacts {
    /// Classes of the statements that run.
    pub classes: ClassSet,
    /// Whether the top-level statement's own kind was classified here; when not, its key
    /// words decide.
    pub handled: bool,
    pub tables: Vec<String>,
    pub functions: Vec<String>,
    pub paths: Vec<String>,
    pub has_where: bool,
}

/// Analyses one parsed statement. `force_where`: the statement had a `WHERE CURRENT OF`
/// the parser does not know, cut off before parsing.
pub(crate) fn analyze(stmt: &Statement, search_path: &[String], force_where: bool) -> AstFacts {
    let mut w = Walk {
        search_path,
        facts: AstFacts::default(),
        depth: 0,
        suppress: 0,
        suppress_marks: Vec::new(),
        frames: Vec::new(),
        visible: HashMap::new(),
        skip_relation: None,
        force_where,
    };
    let _ = stmt.visit(&mut w);
    w.facts
}

/// The CTEs of one `WITH`. They are visited in order; while CTE k is visited the ones
/// before it are in scope (and itself when recursive), then all of them in the body. Scope
/// only widens while a frame lives, so names enter [`Walk::visible`] once each.
struct CteFrame {
    query: usize,
    names: Vec<String>,
    ctes: Vec<usize>,
    /// Index of the next CTE query to be visited.
    next: usize,
    /// The CTE being visited, if any.
    current: Option<usize>,
    /// How many of `names` are in scope.
    visible: usize,
    recursive: bool,
}

struct Walk<'a> {
    search_path: &'a [String],
    facts: AstFacts,
    depth: usize,
    /// Above zero inside a statement that does not run (`EXPLAIN` without `ANALYZE`).
    suppress: usize,
    suppress_marks: Vec<usize>,
    frames: Vec<CteFrame>,
    /// CTE names in scope, with how many frames bring each.
    visible: HashMap<String, usize>,
    skip_relation: Option<usize>,
    force_where: bool,
}

fn addr<T>(r: &T) -> usize {
    r as *const T as usize
}

/// An identifier as the server reads it: unquoted ones fold to lower case.
fn norm(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_ascii_lowercase()
    }
}

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| p.as_ident().map(norm).unwrap_or_default())
        .collect()
}

/// Whether a `WHERE` condition narrows the rows: it must refer to a column somewhere.
/// `WHERE true`, `WHERE 1 = 1` or `WHERE EXISTS (SELECT 1)` hold for every row.
fn narrows(selection: Option<&Expr>) -> bool {
    let Some(e) = selection else {
        return false;
    };
    let found = sqlparser::ast::visit_expressions(e, |x| match x {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::CompoundFieldAccess { .. } => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}

fn is_false(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => !b,
            Value::Number(n, _) => n == "0",
            Value::SingleQuotedString(s) => ["false", "off", "0"]
                .iter()
                .any(|f| s.eq_ignore_ascii_case(f)),
            _ => false,
        },
        Expr::Identifier(i) => ["false", "off"]
            .iter()
            .any(|f| i.value.eq_ignore_ascii_case(f)),
        _ => false,
    }
}

impl Walk<'_> {
    fn add_table(&mut self, q: String) {
        if !q.is_empty() && !self.facts.tables.contains(&q) {
            self.facts.tables.push(q);
        }
    }

    fn add_name(&mut self, name: &ObjectName, temporary: bool) -> String {
        let q = qualify(&parts(name), self.search_path, temporary);
        self.add_table(q.clone());
        q
    }

    fn is_cte(&self, name: &str) -> bool {
        self.visible.contains_key(name)
    }

    /// Widens the innermost frame's scope to its first `n` names.
    fn widen(&mut self, n: usize) {
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        let n = n.min(f.names.len());
        while f.visible < n {
            *self.visible.entry(f.names[f.visible].clone()).or_insert(0) += 1;
            f.visible += 1;
        }
    }

    fn pop_frame(&mut self) {
        if let Some(f) = self.frames.pop() {
            for name in f.names.iter().take(f.visible) {
                if let Some(c) = self.visible.get_mut(name) {
                    *c -= 1;
                    if *c == 0 {
                        self.visible.remove(name);
                    }
                }
            }
        }
    }

    fn catalog_target(&self, name: &ObjectName) -> bool {
        qualify(&parts(name), self.search_path, false).starts_with("pg_catalog.")
    }

    fn statement_classes(&mut self, s: &Statement, top: bool) -> Option<ClassSet> {
        let mut c = ClassSet::EMPTY;
        match s {
            Statement::Query(q) => {
                c.insert(Class::Read);
                if top && let SetExpr::Select(sel) = q.body.as_ref() {
                    self.facts.has_where = sel.selection.is_some();
                }
            }
            Statement::Insert(i) => {
                c.insert(Class::Write);
                if let TableObject::TableName(n) = &i.table
                    && self.catalog_target(n)
                {
                    c.insert(Class::Admin);
                }
            }
            Statement::Update(u) => {
                let narrowed = narrows(u.selection.as_ref()) || (top && self.force_where);
                c.insert(if narrowed {
                    Class::Write
                } else {
                    Class::BulkWrite
                });
                if u.from.is_some() || !u.table.joins.is_empty() {
                    c.insert(Class::Read);
                }
                if top {
                    self.facts.has_where = u.selection.is_some() || self.force_where;
                }
                if let TableFactor::Table { name, .. } = &u.table.relation
                    && self.catalog_target(name)
                {
                    c.insert(Class::Admin);
                }
            }
            Statement::Delete(d) => {
                let narrowed = narrows(d.selection.as_ref()) || (top && self.force_where);
                c.insert(if narrowed {
                    Class::Write
                } else {
                    Class::BulkWrite
                });
                if d.using.as_ref().is_some_and(|u| !u.is_empty()) {
                    c.insert(Class::Read);
                }
                if top {
                    self.facts.has_where = d.selection.is_some() || self.force_where;
                }
                let from = match &d.from {
                    sqlparser::ast::FromTable::WithFromKeyword(v)
                    | sqlparser::ast::FromTable::WithoutKeyword(v) => v,
                };
                if from.iter().any(|t| matches!(&t.relation, TableFactor::Table { name, .. } if self.catalog_target(name))) {
                    c.insert(Class::Admin);
                }
            }
            Statement::Merge(m) => {
                // MERGE reads its source.
                c.insert(Class::Write);
                c.insert(Class::Read);
                if m.clauses.iter().any(|cl| {
                    matches!(cl.action, MergeAction::Delete { .. }) && cl.predicate.is_none()
                }) {
                    c.insert(Class::BulkWrite);
                }
            }
            Statement::Truncate(_) => {
                c.insert(Class::BulkWrite);
                c.insert(Class::Destructive);
            }
            Statement::Drop {
                object_type,
                names,
                temporary,
                ..
            } => {
                c.insert(Class::Destructive);
                match object_type {
                    ObjectType::Role | ObjectType::User | ObjectType::Group => c.insert(Class::Dcl),
                    _ => c.insert(Class::Ddl),
                }
                if matches!(
                    object_type,
                    ObjectType::Table
                        | ObjectType::View
                        | ObjectType::MaterializedView
                        | ObjectType::Sequence
                        | ObjectType::ForeignTable
                ) {
                    for n in names {
                        self.add_name(n, *temporary);
                    }
                }
            }
            Statement::Copy {
                source, to, target, ..
            } => {
                if let CopySource::Table { table_name, .. } = source {
                    self.add_name(table_name, false);
                }
                c.insert(if *to { Class::Read } else { Class::Write });
                match target {
                    CopyTarget::Stdin | CopyTarget::Stdout => {}
                    CopyTarget::File { filename } => {
                        c.insert(Class::Admin);
                        if !self.facts.paths.contains(filename) {
                            self.facts.paths.push(filename.clone());
                        }
                    }
                    CopyTarget::Program { .. } => c.insert(Class::Admin),
                }
            }
            Statement::Explain {
                analyze,
                statement,
                options,
                ..
            } => {
                c.insert(Class::Read);
                let runs = *analyze
                    || options.iter().flatten().any(|o| {
                        ["analyze", "analyse"]
                            .iter()
                            .any(|a| o.name.value.eq_ignore_ascii_case(a))
                            && !o.arg.as_ref().is_some_and(is_false)
                    });
                if !runs {
                    self.suppress_marks.push(addr(statement.as_ref()));
                }
            }
            Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Call(_) => {
                c.insert(Class::Procedural)
            }
            Statement::Declare { .. } | Statement::Fetch { .. } => c.insert(Class::Read),
            Statement::CreateTable(ct) => {
                c.insert(Class::Ddl);
                if ct.temporary {
                    self.skip_relation = Some(addr(&ct.name));
                    self.add_name(&ct.name, true);
                }
                if ct.query.is_some() {
                    c.insert(Class::Read);
                }
            }
            Statement::CreateView(_) | Statement::CreateIndex(_) => c.insert(Class::Ddl),
            Statement::CreateTrigger(t) => {
                c.insert(Class::Ddl);
                self.add_name(&t.table_name, false);
            }
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => {
                c.insert(Class::Ddl);
                match object_type {
                    CommentObject::Table
                    | CommentObject::View
                    | CommentObject::MaterializedView
                    | CommentObject::ForeignTable => {
                        self.add_name(object_name, false);
                    }
                    CommentObject::Column => {
                        let mut p = parts(object_name);
                        p.pop();
                        if !p.is_empty() {
                            self.add_table(qualify(&p, self.search_path, false));
                        }
                    }
                    _ => {}
                }
            }
            Statement::Grant(g) => {
                c.insert(Class::Dcl);
                self.grant_objects(g.objects.as_ref());
            }
            Statement::Revoke(r) => {
                c.insert(Class::Dcl);
                self.grant_objects(r.objects.as_ref());
            }
            Statement::Vacuum(v) => {
                c.insert(if v.full { Class::Admin } else { Class::Write });
                if let Some(n) = &v.table_name {
                    self.add_name(n, false);
                }
            }
            Statement::Analyze(_) => c.insert(Class::Write),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => c.insert(Class::Session),
            _ => return None,
        }
        Some(c)
    }
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        let top = self.depth == 0;
        self.depth += 1;
        if self.suppress_marks.last() == Some(&addr(s)) {
            self.suppress += 1;
        }
        let own = self.statement_classes(s, top);
        if top {
            self.facts.handled = own.is_some();
        }
        if self.suppress == 0 {
            self.facts.classes |= own.unwrap_or(ClassSet::EMPTY);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.suppress_marks.last() == Some(&addr(s)) {
            self.suppress = self.suppress.saturating_sub(1);
            self.suppress_marks.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let a = addr(q);
        if let Some(f) = self.frames.last_mut()
            && f.ctes.get(f.next) == Some(&a)
        {
            // Inside CTE k: the earlier ones are visible, and itself when recursive.
            let k = f.next;
            f.next += 1;
            f.current = Some(k);
            let n = k + usize::from(f.recursive);
            self.widen(n);
        }
        // `INSERT … VALUES` reads nothing; every other query does.
        let values_only = matches!(q.body.as_ref(), SetExpr::Values(_)) && q.with.is_none();
        if self.suppress == 0 && !values_only {
            self.facts.classes.insert(Class::Read);
        }
        if let SetExpr::Select(sel) = q.body.as_ref()
            && let Some(into) = &sel.into
        {
            if self.suppress == 0 {
                self.facts.classes.insert(Class::Ddl);
            }
            for t in &into.targets {
                let p: Vec<String> = match t {
                    Expr::Identifier(i) => vec![norm(i)],
                    Expr::CompoundIdentifier(v) => v.iter().map(norm).collect(),
                    _ => continue,
                };
                let q = qualify(&p, self.search_path, into.temporary);
                self.add_table(q);
            }
        }
        if let Some(with) = &q.with {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| norm(&c.alias.name))
                .collect();
            self.frames.push(CteFrame {
                query: a,
                next: 0,
                current: None,
                visible: 0,
                ctes: with
                    .cte_tables
                    .iter()
                    .map(|c| addr(c.query.as_ref()))
                    .collect(),
                names,
                recursive: with.recursive,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        let a = addr(q);
        if self.frames.last().is_some_and(|f| f.query == a) {
            self.pop_frame();
        }
        if let Some(f) = self.frames.last_mut()
            && let Some(k) = f.current
            && f.ctes.get(k) == Some(&a)
        {
            // CTE k done: it is in scope for the ones after it and for the body.
            f.current = None;
            self.widen(k + 1);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        if self.skip_relation == Some(addr(name)) {
            self.skip_relation = None;
            return ControlFlow::Continue(());
        }
        let p = parts(name);
        if let [single] = p.as_slice()
            && self.is_cte(single)
        {
            return ControlFlow::Continue(());
        }
        let q = qualify(&p, self.search_path, false);
        self.add_table(q);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        match t {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => {
                self.skip_relation = Some(addr(name));
                self.add_function(name);
            }
            TableFactor::Function { name, .. } => self.add_function(name),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            self.add_function(&f.name);
        }
        ControlFlow::Continue(())
    }
}

impl Walk<'_> {
    fn grant_objects(&mut self, objects: Option<&GrantObjects>) {
        if let Some(GrantObjects::Tables(v) | GrantObjects::Views(v) | GrantObjects::Sequences(v)) =
            objects
        {
            for n in v {
                self.add_name(n, false);
            }
        }
    }

    fn add_function(&mut self, name: &ObjectName) {
        let n = parts(name).join(".");
        if !self.facts.functions.contains(&n) {
            self.facts.functions.push(n);
        }
    }
}
