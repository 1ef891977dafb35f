//! The file's items resolved: constants evaluated, layouts laid out (offsets, sizes, byte
//! order), helper functions indexed and checked for recursion, names checked for duplicates.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{
    BinOp, ConstDef, Expr, ExprKind, File, FnDef, Item, LayoutDef, Order, Stmt, TypeExpr, UnOp,
};
use crate::diag::Diagnostic;
use crate::limits::{MAX_DEPTH, MAX_LAYOUT_NESTING};
use crate::srcmap::Span;

/// The scalar types of the language: the integers and `bool` (not the verifier's `Scalar`,
/// which is what is known of a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `bool`
    Bool,
}

impl ScalarType {
    pub fn from_name(n: &str) -> Option<ScalarType> {
        Some(match n {
            "u8" => ScalarType::U8,
            "u16" => ScalarType::U16,
            "u32" => ScalarType::U32,
            "u64" => ScalarType::U64,
            "i8" => ScalarType::I8,
            "i16" => ScalarType::I16,
            "i32" => ScalarType::I32,
            "i64" => ScalarType::I64,
            "bool" => ScalarType::Bool,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::U8 => "u8",
            ScalarType::U16 => "u16",
            ScalarType::U32 => "u32",
            ScalarType::U64 => "u64",
            ScalarType::I8 => "i8",
            ScalarType::I16 => "i16",
            ScalarType::I32 => "i32",
            ScalarType::I64 => "i64",
            ScalarType::Bool => "bool",
        }
    }
    /// Width in bits (bool: 1).
    pub fn bits(self) -> u32 {
        match self {
            ScalarType::U8 | ScalarType::I8 => 8,
            ScalarType::U16 | ScalarType::I16 => 16,
            ScalarType::U32 | ScalarType::I32 => 32,
            ScalarType::U64 | ScalarType::I64 => 64,
            ScalarType::Bool => 1,
        }
    }
    /// Size in bytes in a layout (bool: 1).
    pub fn bytes(self) -> u32 {
        self.bits().div_ceil(8)
    }
    pub fn signed(self) -> bool {
        matches!(self, ScalarType::I8 | ScalarType::I16 | ScalarType::I32 | ScalarType::I64)
    }
    pub fn is_int(self) -> bool {
        self != ScalarType::Bool
    }
    /// Whether every value of `self` is a value of `to` (implicit conversion).
    pub fn widens_to(self, to: ScalarType) -> bool {
        if self == to {
            return true;
        }
        if !self.is_int() || !to.is_int() {
            return false;
        }
        match (self.signed(), to.signed()) {
            (false, false) | (true, true) => self.bits() <= to.bits(),
            (false, true) => self.bits() < to.bits(),
            (true, false) => false,
        }
    }
    /// The value `v` (any 64 bits) in this type's canonical register form: zero-extended for
    /// unsigned types, sign-extended for signed ones, 0/1 for bool.
    pub fn normalize(self, v: u64) -> u64 {
        match self {
            ScalarType::Bool => (v != 0) as u64,
            ScalarType::U8 => v & 0xff,
            ScalarType::U16 => v & 0xffff,
            ScalarType::U32 => v & 0xffff_ffff,
            ScalarType::U64 | ScalarType::I64 => v,
            ScalarType::I8 => v as u8 as i8 as i64 as u64,
            ScalarType::I16 => v as u16 as i16 as i64 as u64,
            ScalarType::I32 => v as u32 as i32 as i64 as u64,
        }
    }
    /// Whether the literal `v` is a value of this type.
    pub fn fits(self, v: u64) -> bool {
        match self {
            ScalarType::Bool => false,
            _ if self.signed() => v <= (1u64 << (self.bits() - 1)),
            _ => self.bits() == 64 || v < (1u64 << self.bits()),
        }
    }
}

/// The type of a layout field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldTy {
    /// A scalar.
    Scalar(ScalarType),
    /// A nested layout (index into [`Items::layouts`]).
    Layout(usize),
    /// An array.
    Array(Box<FieldTy>, u32),
}

/// A resolved field.
#[derive(Clone, Debug)]
pub struct LayoutField {
    pub name: String,
    pub ty: FieldTy,
    pub offset: u32,
    pub order: Order,
}

/// A resolved layout.
#[derive(Clone, Debug)]
pub struct Layout {
    pub name: String,
    pub size: u32,
    pub fields: Vec<LayoutField>,
}

/// The resolved items of a file.
pub struct Items<'a> {
    pub consts: BTreeMap<String, (ScalarType, u64)>,
    pub layouts: Vec<Layout>,
    pub layout_index: BTreeMap<String, usize>,
    pub fns: BTreeMap<String, &'a FnDef>,
    /// Functions that call `emit`, directly or through other functions.
    pub emitting: BTreeSet<String>,
}

impl Items<'_> {
    /// Size in bytes of a field type.
    pub fn size_of(&self, t: &FieldTy) -> u64 {
        match t {
            FieldTy::Scalar(s) => s.bytes() as u64,
            FieldTy::Layout(i) => self.layouts[*i].size as u64,
            FieldTy::Array(e, n) => self.size_of(e).saturating_mul(*n as u64),
        }
    }
}

/// Evaluates constant expressions (literals, constants, operators, casts).
pub struct ConstEval<'a, 'b> {
    defs: &'b BTreeMap<String, &'a ConstDef>,
    done: &'b mut BTreeMap<String, Option<(ScalarType, u64)>>,
    active: Vec<String>,
    /// How deeply `eval` recurses now, through the constants it reads too.
    depth: usize,
}

/// A constant value: its type (`None` for an untyped literal) and canonical bits.
pub type ConstVal = (Option<ScalarType>, u64);

fn type_name(t: Option<ScalarType>) -> &'static str {
    t.map_or("integer", ScalarType::name)
}

/// The common type of two operands under implicit widening.
pub fn unify(a: Option<ScalarType>, b: Option<ScalarType>) -> Result<Option<ScalarType>, ()> {
    match (a, b) {
        (None, x) | (x, None) => Ok(x),
        (Some(x), Some(y)) if x.widens_to(y) => Ok(Some(y)),
        (Some(x), Some(y)) if y.widens_to(x) => Ok(Some(x)),
        _ => Err(()),
    }
}

/// Applies a binary operator with the run-time semantics of type `t` (untyped: u64).
pub fn apply(op: BinOp, t: ScalarType, a: u64, b: u64) -> u64 {
    let w = t.bits();
    let sa = a as i64;
    let sb = b as i64;
    let r = match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::Mul => a.wrapping_mul(b),
        BinOp::Div if t.signed() => {
            if sb == 0 {
                0
            } else {
                sa.wrapping_div(sb) as u64
            }
        }
        BinOp::Div => a.checked_div(b).unwrap_or(0),
        BinOp::Rem if t.signed() => {
            if sb == 0 {
                a
            } else {
                sa.wrapping_rem(sb) as u64
            }
        }
        BinOp::Rem => a.checked_rem(b).unwrap_or(a),
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Shl => a << (b % w.max(1) as u64),
        BinOp::Shr if t.signed() => (sa >> (b % w as u64)) as u64,
        BinOp::Shr => a >> (b % w as u64),
        BinOp::Eq => (a == b) as u64,
        BinOp::Ne => (a != b) as u64,
        BinOp::Lt if t.signed() => (sa < sb) as u64,
        BinOp::Le if t.signed() => (sa <= sb) as u64,
        BinOp::Gt if t.signed() => (sa > sb) as u64,
        BinOp::Ge if t.signed() => (sa >= sb) as u64,
        BinOp::Lt => (a < b) as u64,
        BinOp::Le => (a <= b) as u64,
        BinOp::Gt => (a > b) as u64,
        BinOp::Ge => (a >= b) as u64,
        BinOp::AndAnd => (a != 0 && b != 0) as u64,
        BinOp::OrOr => (a != 0 || b != 0) as u64,
    };
    if op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr) { r } else { t.normalize(r) }
}

impl ConstEval<'_, '_> {
    /// Evaluates `e`; refused past [`MAX_DEPTH`] levels of expressions and constants.
    pub fn eval(&mut self, e: &Expr) -> Result<ConstVal, Diagnostic> {
        if self.depth >= MAX_DEPTH {
            return Err(Diagnostic::new(
                "udf::limit::depth",
                format!(
                    "this constant nests deeper than the compiler's limit of {MAX_DEPTH} levels"
                ),
            )
            .label(e.span, "the limit is reached here")
            .help(format!(
                "a constant's expression and the constants it reads, and theirs, count \
                 together: at most {MAX_DEPTH} levels"
            )));
        }
        self.depth += 1;
        let r = self.eval_inner(e);
        self.depth -= 1;
        r
    }

    fn eval_inner(&mut self, e: &Expr) -> Result<ConstVal, Diagnostic> {
        let bad = |msg: String| Err(Diagnostic::new("udf::const::eval", msg).label(e.span, "here"));
        match &e.kind {
            ExprKind::Int(v) => Ok((None, *v)),
            ExprKind::Bool(b) => Ok((Some(ScalarType::Bool), *b as u64)),
            ExprKind::Paren(x) => self.eval(x),
            ExprKind::Name(n) => self.constant(&n.name, n.span),
            ExprKind::Unary(op, x) => {
                let (t, v) = self.eval(x)?;
                match (op, t) {
                    (UnOp::Not, Some(ScalarType::Bool)) => Ok((t, (v == 0) as u64)),
                    (UnOp::Not, _) => Ok((t, t.unwrap_or(ScalarType::U64).normalize(!v))),
                    (UnOp::Neg, Some(ScalarType::Bool)) => bad("`-` on a bool".into()),
                    (UnOp::Neg, _) => {
                        Ok((t, t.unwrap_or(ScalarType::U64).normalize(v.wrapping_neg())))
                    }
                }
            }
            ExprKind::Cast(x, ty) => {
                let (_, v) = self.eval(x)?;
                let to = match ty {
                    TypeExpr::Named(n) => ScalarType::from_name(&n.name),
                    _ => None,
                };
                match to {
                    Some(ScalarType::Bool) | None => {
                        bad("a constant casts only to an integer type".into())
                    }
                    Some(s) => Ok((Some(s), s.normalize(v))),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let (ta, va) = self.eval(a)?;
                let (tb, vb) = self.eval(b)?;
                let t = match unify(ta, tb) {
                    Ok(t) => t,
                    Err(()) => {
                        return bad(format!(
                            "`{}` between {} and {}",
                            op.symbol(),
                            type_name(ta),
                            type_name(tb)
                        ));
                    }
                };
                let s = t.unwrap_or(ScalarType::U64);
                let r = apply(*op, s, va, vb);
                if op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr) {
                    Ok((Some(ScalarType::Bool), r))
                } else {
                    Ok((t, r))
                }
            }
            _ => bad("not a constant expression".into()),
        }
    }

    fn constant(&mut self, name: &str, span: Span) -> Result<ConstVal, Diagnostic> {
        if let Some(v) = self.done.get(name) {
            return match v {
                Some((t, v)) => Ok((Some(*t), *v)),
                None => Err(Diagnostic::new(
                    "udf::const::eval",
                    format!("constant `{name}` has no value"),
                )
                .label(span, "its definition has an error")),
            };
        }
        let Some(def) = self.defs.get(name).copied() else {
            return Err(Diagnostic::new("udf::name::unknown", format!("no constant `{name}`"))
                .label(span, "not defined")
                .help("constants are declared with `const NAME: TYPE = VALUE;`"));
        };
        if self.active.iter().any(|a| a == name) {
            return Err(Diagnostic::new(
                "udf::const::eval",
                format!("constant `{name}` depends on itself"),
            )
            .label(span, "used in its own definition"));
        }
        self.active.push(name.to_string());
        let r = self.define(def);
        self.active.pop();
        self.done.insert(name.to_string(), r.as_ref().ok().copied());
        r.map(|(t, v)| (Some(t), v))
    }

    fn define(&mut self, def: &ConstDef) -> Result<(ScalarType, u64), Diagnostic> {
        let ty = match &def.ty {
            TypeExpr::Named(n) => ScalarType::from_name(&n.name),
            _ => None,
        };
        let Some(ty) = ty else {
            return Err(Diagnostic::new("udf::type::mismatch", "a constant has a scalar type")
                .label(def.ty.span(), "not a scalar type"));
        };
        let (t, v) = self.eval(&def.value)?;
        match t {
            None if ty.is_int() && ty.fits(v) => Ok((ty, ty.normalize(v))),
            None if ty.signed() && ty.normalize(v) == v => Ok((ty, v)),
            None => Err(Diagnostic::new(
                "udf::type::literal",
                format!("{v} does not fit `{}`", ty.name()),
            )
            .label(def.value.span, "this value")),
            Some(t) if t.widens_to(ty) => Ok((ty, v)),
            Some(t) => Err(Diagnostic::new(
                "udf::type::mismatch",
                format!("expected `{}`, found `{}`", ty.name(), t.name()),
            )
            .label(def.value.span, format!("this is `{}`", t.name()))
            .help(format!("convert it: `... as {}`", ty.name()))),
        }
    }
}

/// Evaluates a constant expression that must be a non-negative count or offset below 2^31.
pub fn const_u32(ev: &mut ConstEval<'_, '_>, e: &Expr, what: &str) -> Result<u32, Diagnostic> {
    let (t, v) = ev.eval(e)?;
    if t == Some(ScalarType::Bool)
        || (t.is_some_and(ScalarType::signed) && (v as i64) < 0)
        || v > i32::MAX as u64
    {
        return Err(Diagnostic::new(
            "udf::const::eval",
            format!("{what} must be between 0 and 2^31 - 1"),
        )
        .label(e.span, "this value"));
    }
    Ok(v as u32)
}

/// Resolves every item, reporting errors into `diags`.
pub fn collect<'a>(file: &'a File, diags: &mut Vec<Diagnostic>) -> Items<'a> {
    // Names are unique across the file.
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    let mut const_defs: BTreeMap<String, &ConstDef> = BTreeMap::new();
    let mut layout_defs: Vec<&LayoutDef> = Vec::new();
    let mut fns: BTreeMap<String, &FnDef> = BTreeMap::new();
    for item in &file.items {
        let name = match item {
            Item::Const(c) => &c.name,
            Item::Layout(l) => &l.name,
            Item::Fn(f) => &f.name,
            Item::Entry(e) => &e.name,
            Item::Error(_) => continue,
        };
        if let Some(prev) = seen.get(name.name.as_str()) {
            diags.push(
                Diagnostic::new(
                    "udf::name::duplicate",
                    format!("`{}` is defined twice", name.name),
                )
                .label(name.span, "defined again here")
                .label(*prev, "first defined here"),
            );
            continue;
        }
        if ScalarType::from_name(&name.name).is_some()
            || matches!(name.name.as_str(), "packet" | "request" | "emit")
        {
            diags.push(
                Diagnostic::new(
                    "udf::name::duplicate",
                    format!("`{}` is a built-in name", name.name),
                )
                .label(name.span, "choose another name"),
            );
            continue;
        }
        seen.insert(&name.name, name.span);
        match item {
            Item::Const(c) => {
                const_defs.insert(c.name.name.clone(), c);
            }
            Item::Layout(l) => layout_defs.push(l),
            Item::Fn(f) => {
                fns.insert(f.name.name.clone(), f);
            }
            _ => {}
        }
    }
    let mut done = BTreeMap::new();
    for (name, def) in &const_defs {
        let mut ev = ConstEval { defs: &const_defs, done: &mut done, active: Vec::new(), depth: 0 };
        if let Err(d) = ev.constant(name, def.name.span) {
            diags.push(d);
        }
    }
    let layout_index: BTreeMap<String, usize> =
        layout_defs.iter().enumerate().map(|(i, l)| (l.name.name.clone(), i)).collect();
    let mut ev = ConstEval { defs: &const_defs, done: &mut done, active: Vec::new(), depth: 0 };
    let layouts = lay_out(&layout_defs, &layout_index, &mut ev, diags);
    let consts = done.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
    let emitting = emitting_fns(&fns, diags);
    Items { consts, layouts, layout_index, fns, emitting }
}

/// Lays out every layout: sizes first (nested layouts need them), in dependency order,
/// refusing cycles.
fn lay_out(
    defs: &[&LayoutDef],
    index: &BTreeMap<String, usize>,
    ev: &mut ConstEval<'_, '_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Layout> {
    let mut pass = LayoutPass {
        defs,
        index,
        ev,
        diags,
        sizes: vec![None; defs.len()],
        out: vec![None; defs.len()],
        active: Vec::new(),
    };
    for i in 0..defs.len() {
        pass.visit(i);
    }
    pass.out
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            l.unwrap_or(Layout { name: defs[i].name.name.clone(), size: 0, fields: Vec::new() })
        })
        .collect()
}

/// The state of [`lay_out`].
struct LayoutPass<'x, 'a, 'e, 'd> {
    defs: &'x [&'a LayoutDef],
    index: &'x BTreeMap<String, usize>,
    ev: &'x mut ConstEval<'e, 'd>,
    diags: &'x mut Vec<Diagnostic>,
    /// Each layout's size, once known.
    sizes: Vec<Option<u32>>,
    out: Vec<Option<Layout>>,
    /// The layouts being laid out, outermost first.
    active: Vec<usize>,
}

impl LayoutPass<'_, '_, '_, '_> {
    /// Lays out layout `i` (and those it contains); its size.
    fn visit(&mut self, i: usize) -> u32 {
        if let Some(s) = self.sizes[i] {
            return s;
        }
        let def = self.defs[i];
        if self.active.len() >= MAX_LAYOUT_NESTING {
            self.diags.push(
                Diagnostic::new(
                    "udf::limit::depth",
                    format!(
                        "layouts nest in each other deeper than the compiler's limit of {MAX_LAYOUT_NESTING}"
                    ),
                )
                .label(def.name.span, "the limit is reached at this layout")
                .help(format!("nest at most {MAX_LAYOUT_NESTING} layouts")),
            );
            self.sizes[i] = Some(0);
            return 0;
        }
        if self.active.contains(&i) {
            self.diags.push(
                Diagnostic::new(
                    "udf::layout::cycle",
                    format!("layout `{}` contains itself", def.name.name),
                )
                .label(def.name.span, "here"),
            );
            return 0;
        }
        self.active.push(i);
        let order = def.order.unwrap_or(Order::Le);
        let mut fields: Vec<LayoutField> = Vec::new();
        let mut end = 0u64;
        let mut past: Option<(u64, Span)> = None;
        for f in &def.fields {
            if fields.iter().any(|g| g.name == f.name.name) {
                self.diags.push(
                    Diagnostic::new(
                        "udf::name::duplicate",
                        format!("field `{}` is defined twice", f.name.name),
                    )
                    .label(f.name.span, "again here"),
                );
                continue;
            }
            let Some(ty) = self.field_ty(&f.ty) else {
                continue;
            };
            let offset = match const_u32(self.ev, &f.offset, "an offset") {
                Ok(o) => o,
                Err(d) => {
                    self.diags.push(d);
                    continue;
                }
            };
            let size = size_with(&ty, &self.sizes);
            let fend = (offset as u64).saturating_add(size);
            if fend > i32::MAX as u64 && past.is_none() {
                past = Some((fend, f.name.span));
            }
            end = end.max(fend);
            fields.push(LayoutField {
                name: f.name.name.clone(),
                ty,
                offset,
                order: f.order.unwrap_or(order),
            });
        }
        let size = match &def.size {
            Some(e) => match const_u32(self.ev, e, "a layout size") {
                Ok(s) => {
                    for (f, d) in fields.iter().zip(&def.fields) {
                        let fend = (f.offset as u64).saturating_add(size_with(&f.ty, &self.sizes));
                        if fend > s as u64 {
                            self.diags.push(
                                Diagnostic::new(
                                    "udf::layout::out_of_range",
                                    format!("field `{}` ends at byte {fend}, past the layout's size {s}", f.name),
                                )
                                .label(d.offset.span, format!("bytes {}..{fend}", f.offset))
                                .label(e.span, "declared size"),
                            );
                        }
                    }
                    s
                }
                Err(d) => {
                    self.diags.push(d);
                    end as u32
                }
            },
            None => {
                if let Some((fend, span)) = past {
                    self.diags.push(
                        Diagnostic::new(
                            "udf::layout::out_of_range",
                            format!(
                                "layout `{}` ends at byte {fend}, past the largest object (2^31 - 1 bytes)",
                                def.name.name
                            ),
                        )
                        .label(span, "this field ends there")
                        .help("shorten the field or its array"),
                    );
                }
                end.min(i32::MAX as u64) as u32
            }
        };
        self.active.pop();
        self.sizes[i] = Some(size);
        self.out[i] = Some(Layout { name: def.name.name.clone(), size, fields });
        size
    }

    fn field_ty(&mut self, t: &TypeExpr) -> Option<FieldTy> {
        match t {
            TypeExpr::Named(n) => {
                if let Some(s) = ScalarType::from_name(&n.name) {
                    return Some(FieldTy::Scalar(s));
                }
                if let Some(&i) = self.index.get(&n.name) {
                    self.visit(i);
                    return Some(FieldTy::Layout(i));
                }
                self.diags.push(
                    Diagnostic::new("udf::name::unknown", format!("no type `{}`", n.name))
                        .label(n.span, "not a scalar type or layout"),
                );
                None
            }
            TypeExpr::Array(e, n, _) => {
                let elem = self.field_ty(e)?;
                match const_u32(self.ev, n, "an array length") {
                    Ok(n) => Some(FieldTy::Array(Box::new(elem), n)),
                    Err(d) => {
                        self.diags.push(d);
                        None
                    }
                }
            }
        }
    }
}

fn size_with(t: &FieldTy, sizes: &[Option<u32>]) -> u64 {
    match t {
        FieldTy::Scalar(s) => s.bytes() as u64,
        FieldTy::Layout(i) => sizes[*i].unwrap_or(0) as u64,
        FieldTy::Array(e, n) => size_with(e, sizes).saturating_mul(*n as u64),
    }
}

/// Calls made by a block: (callee, span).
fn calls_in(stmts: &[Stmt], tail: Option<&Expr>, out: &mut Vec<(String, Span)>) {
    fn expr(e: &Expr, out: &mut Vec<(String, Span)>) {
        match &e.kind {
            ExprKind::Call(f, args) => {
                out.push((f.name.clone(), f.span));
                args.iter().for_each(|a| expr(a, out));
            }
            ExprKind::Field(b, _)
            | ExprKind::Unary(_, b)
            | ExprKind::Cast(b, _)
            | ExprKind::Paren(b) => expr(b, out),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                expr(a, out);
                expr(b, out);
            }
            ExprKind::If(c, t, e) => {
                expr(c, out);
                calls_in(&t.stmts, t.tail.as_deref(), out);
                if let Some(e) = e {
                    expr(e, out);
                }
            }
            ExprKind::Block(b) => calls_in(&b.stmts, b.tail.as_deref(), out),
            ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Name(_) => {}
        }
    }
    for s in stmts {
        match s {
            Stmt::Let { value, .. } | Stmt::Assign { value, .. } => expr(value, out),
            Stmt::Expr { expr: e, .. } => expr(e, out),
            Stmt::For { start, end, max, body, .. } => {
                expr(start, out);
                expr(end, out);
                if let Some(m) = max {
                    expr(m, out);
                }
                calls_in(&body.stmts, body.tail.as_deref(), out);
            }
            Stmt::Return(Some(e), _) => expr(e, out),
            _ => {}
        }
    }
    if let Some(t) = tail {
        expr(t, out);
    }
}

/// Finds recursion (reported) and the set of functions that emit.
fn emitting_fns(fns: &BTreeMap<String, &FnDef>, diags: &mut Vec<Diagnostic>) -> BTreeSet<String> {
    let mut graph: BTreeMap<&str, Vec<(String, Span)>> = BTreeMap::new();
    for (name, f) in fns {
        let mut calls = Vec::new();
        calls_in(&f.body.stmts, f.body.tail.as_deref(), &mut calls);
        graph.insert(name, calls);
    }
    // Recursion: a depth-first search reporting each back edge once. An explicit stack, not
    // recursion: a chain of thousands of helpers is only deep, not wrong.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let names: Vec<&str> = graph.keys().copied().collect();
    for root in names {
        if state.contains_key(root) {
            continue;
        }
        state.insert(root, 1);
        // (function, index of its next call to look at)
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        while let Some((n, next)) = stack.last_mut() {
            let n = *n;
            let Some((callee, span)) = graph[n].get(*next) else {
                state.insert(n, 2);
                stack.pop();
                continue;
            };
            *next += 1;
            let Some((k, _)) = graph.get_key_value(callee.as_str()) else {
                continue;
            };
            match state.get(k) {
                Some(1) => diags.push(
                    Diagnostic::new(
                        "udf::fn::recursion",
                        format!("`{n}` calls `{callee}`, which leads back to `{n}`"),
                    )
                    .label(*span, "this call recurses")
                    .help("helpers are inlined, so they cannot recurse; use a bounded loop"),
                ),
                Some(_) => {}
                None => {
                    state.insert(k, 1);
                    stack.push((k, 0));
                }
            }
        }
    }
    // Emitting: every function from which a call of `emit` is reachable, found backwards from
    // the callers of `emit` over the reversed call graph.
    let mut callers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut work: Vec<&str> = Vec::new();
    for (n, calls) in &graph {
        for (c, _) in calls {
            if c == "emit" {
                work.push(n);
            } else if let Some((k, _)) = graph.get_key_value(c.as_str()) {
                callers.entry(k).or_default().push(n);
            }
        }
    }
    let mut emitting: BTreeSet<String> = BTreeSet::new();
    while let Some(n) = work.pop() {
        if emitting.insert(n.to_string()) {
            work.extend(callers.get(n).into_iter().flatten().copied());
        }
    }
    emitting
}
