//! The syntax tree, and a printer whose output parses back to the same tree.

use core::fmt::{self, Write};

use crate::srcmap::Span;

/// A name and where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// Byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Little-endian.
    Le,
    /// Big-endian.
    Be,
}

/// A written type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeExpr {
    /// `u32`, `bool`, a layout, `packet`, `request`.
    Named(Ident),
    /// `[T; N]`.
    Array(Box<TypeExpr>, Box<Expr>, Span),
}

impl TypeExpr {
    /// Where it is written.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::Array(_, _, s) => *s,
        }
    }
}

/// A source file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct File {
    /// Items in source order.
    pub items: Vec<Item>,
}

impl File {
    /// The entry points, in source order.
    pub fn entries(&self) -> impl Iterator<Item = &EntryDef> {
        self.items.iter().filter_map(|i| match i {
            Item::Entry(e) => Some(e),
            _ => None,
        })
    }
}

/// A top-level item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// `const`.
    Const(ConstDef),
    /// `layout`.
    Layout(LayoutDef),
    /// `fn`.
    Fn(FnDef),
    /// `filter`, `owns`, `acl`, `size`.
    Entry(EntryDef),
    /// Text the parser skipped after a syntax error.
    Error(Span),
}

/// `const NAME: T = E;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstDef {
    /// Name.
    pub name: Ident,
    /// Type.
    pub ty: TypeExpr,
    /// Value.
    pub value: Expr,
}

/// `layout NAME [le|be] [size N] { fields }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutDef {
    /// Name.
    pub name: Ident,
    /// Default byte order of its fields.
    pub order: Option<Order>,
    /// Declared size.
    pub size: Option<Expr>,
    /// Fields.
    pub fields: Vec<FieldDef>,
}

/// `name: T [le|be] @ OFFSET`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// Name.
    pub name: Ident,
    /// Type.
    pub ty: TypeExpr,
    /// Byte order override.
    pub order: Option<Order>,
    /// Offset in bytes.
    pub offset: Expr,
}

/// A parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Name.
    pub name: Ident,
    /// Type.
    pub ty: TypeExpr,
}

/// `fn NAME(params) [-> T] { body }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FnDef {
    /// Name.
    pub name: Ident,
    /// Parameters.
    pub params: Vec<Param>,
    /// Result type.
    pub ret: Option<TypeExpr>,
    /// Body.
    pub body: Block,
}

/// The kind of an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// `filter`.
    Filter,
    /// `owns`.
    Owns,
    /// `acl`.
    Acl,
    /// `size`.
    Size,
}

impl EntryKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            EntryKind::Filter => "filter",
            EntryKind::Owns => "owns",
            EntryKind::Acl => "acl",
            EntryKind::Size => "size",
        }
    }
}

/// An entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryDef {
    /// Kind.
    pub kind: EntryKind,
    /// Name.
    pub name: Ident,
    /// Parameters.
    pub params: Vec<Param>,
    /// Result type.
    pub ret: Option<TypeExpr>,
    /// Body.
    pub body: EntryBody,
    /// The whole declaration.
    pub span: Span,
}

/// What an entry point is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryBody {
    /// A block of code.
    Block(Block),
    /// `= pcap "expr";`
    Pcap(String, Span),
}

/// `{ stmts [tail] }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Statements.
    pub stmts: Vec<Stmt>,
    /// The value of the block.
    pub tail: Option<Box<Expr>>,
    /// Where.
    pub span: Span,
}

/// Assignment operators.
pub type AssignOp = Option<BinOp>;

/// A statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `let [mut] x [: T] = e;`
    Let {
        /// Whether it may be assigned.
        mutable: bool,
        /// Name.
        name: Ident,
        /// Declared type.
        ty: Option<TypeExpr>,
        /// Initial value.
        value: Expr,
        /// Where.
        span: Span,
    },
    /// `x = e;`, `x += e;`, ...
    Assign {
        /// The variable.
        target: Ident,
        /// The operator of a compound assignment.
        op: AssignOp,
        /// Value.
        value: Expr,
        /// Where.
        span: Span,
    },
    /// An expression; `semi` tells whether a `;` followed it.
    Expr {
        /// The expression.
        expr: Expr,
        /// Followed by `;`.
        semi: bool,
    },
    /// `for v in a..b [max n] { }`
    For {
        /// Loop variable.
        var: Ident,
        /// First value.
        start: Expr,
        /// End (exclusive).
        end: Expr,
        /// Most iterations, for a run-time end.
        max: Option<Expr>,
        /// Body.
        body: Block,
        /// Where.
        span: Span,
    },
    /// `return [e];`
    Return(Option<Expr>, Span),
    /// `break;`
    Break(Span),
    /// `continue;`
    Continue(Span),
    /// Text the parser skipped after a syntax error.
    Error(Span),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::And => "&",
            BinOp::Or => "|",
            BinOp::Xor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::AndAnd => "&&",
            BinOp::OrOr => "||",
        }
    }
    /// Comparison operators give `bool`.
    pub fn is_compare(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge)
    }
}

/// An expression and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// Integer literal.
    Int(u64),
    /// `true`/`false`.
    Bool(bool),
    /// A variable, constant or parameter.
    Name(Ident),
    /// `e.field`
    Field(Box<Expr>, Ident),
    /// `e[i]`
    Index(Box<Expr>, Box<Expr>),
    /// `-e`, `!e`
    Unary(UnOp, Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `e as T`
    Cast(Box<Expr>, TypeExpr),
    /// `f(args)`
    Call(Ident, Vec<Expr>),
    /// `if c { } [else ...]`
    If(Box<Expr>, Block, Option<Box<Expr>>),
    /// `{ ... }`
    Block(Block),
    /// A parenthesised expression (kept so printing is faithful).
    Paren(Box<Expr>),
}

impl Expr {
    /// Whether it ends in a block (and so needs no `;` as a statement).
    pub fn is_block_like(&self) -> bool {
        matches!(self.kind, ExprKind::If(..) | ExprKind::Block(_))
    }
}

/// Prints a file in the canonical layout; parsing the output gives the same tree (spans aside).
pub fn print(file: &File) -> String {
    let mut p = Printer::default();
    for item in &file.items {
        p.item(item);
    }
    p.out
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

impl Printer {
    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Const(c) => {
                let s = format!("const {}: {} = {};", c.name.name, ty(&c.ty), expr(&c.value));
                self.line(&s);
            }
            Item::Layout(l) => {
                let mut s = format!("layout {}", l.name.name);
                if let Some(o) = l.order {
                    s.push_str(order(o));
                }
                if let Some(n) = &l.size {
                    let _ = write!(s, " size {}", expr(n));
                }
                s.push_str(" {");
                self.line(&s);
                self.indent += 1;
                for f in &l.fields {
                    let mut s = format!("{}: {}", f.name.name, ty(&f.ty));
                    if let Some(o) = f.order {
                        s.push_str(order(o));
                    }
                    let _ = write!(s, " @ {},", expr(&f.offset));
                    self.line(&s);
                }
                self.indent -= 1;
                self.line("}");
            }
            Item::Fn(f) => {
                let mut s = format!("fn {}({})", f.name.name, params(&f.params));
                if let Some(r) = &f.ret {
                    let _ = write!(s, " -> {}", ty(r));
                }
                self.block_after(&s, &f.body, "");
            }
            Item::Entry(e) => {
                let head = format!("{} {}", e.kind.keyword(), e.name.name);
                match &e.body {
                    EntryBody::Pcap(text, _) => {
                        self.line(&format!("{head} = pcap {text:?};"));
                    }
                    EntryBody::Block(b) => {
                        let mut s = format!("{head}({})", params(&e.params));
                        if let Some(r) = &e.ret {
                            let _ = write!(s, " -> {}", ty(r));
                        }
                        self.block_after(&s, b, "");
                    }
                }
            }
            Item::Error(_) => self.line("/* error */"),
        }
    }

    fn block_after(&mut self, head: &str, b: &Block, after: &str) {
        self.line(&format!("{head} {{"));
        self.indent += 1;
        for s in &b.stmts {
            self.stmt(s);
        }
        if let Some(t) = &b.tail {
            let s = expr_at(t, self.indent);
            self.line(&s);
        }
        self.indent -= 1;
        self.line(&format!("}}{after}"));
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Let { mutable, name, ty: t, value, .. } => {
                let mut s = format!("let {}{}", if *mutable { "mut " } else { "" }, name.name);
                if let Some(t) = t {
                    let _ = write!(s, ": {}", ty(t));
                }
                let _ = write!(s, " = {};", expr_at(value, self.indent));
                self.line(&s);
            }
            Stmt::Assign { target, op, value, .. } => {
                let op = op.map_or(String::new(), |o| o.symbol().to_string());
                let s = format!("{} {op}= {};", target.name, expr_at(value, self.indent));
                self.line(&s);
            }
            Stmt::Expr { expr: e, semi } => {
                let s = format!("{}{}", expr_at(e, self.indent), if *semi { ";" } else { "" });
                self.line(&s);
            }
            Stmt::For { var, start, end, max, body, .. } => {
                let mut h = format!("for {} in {}..{}", var.name, expr(start), expr(end));
                if let Some(m) = max {
                    let _ = write!(h, " max {}", expr(m));
                }
                self.block_after(&h, body, "");
            }
            Stmt::Return(e, _) => {
                let s = match e {
                    Some(e) => format!("return {};", expr_at(e, self.indent)),
                    None => "return;".to_string(),
                };
                self.line(&s);
            }
            Stmt::Break(_) => self.line("break;"),
            Stmt::Continue(_) => self.line("continue;"),
            Stmt::Error(_) => self.line("/* error */;"),
        }
    }
}

fn order(o: Order) -> &'static str {
    match o {
        Order::Le => " le",
        Order::Be => " be",
    }
}

fn params(ps: &[Param]) -> String {
    ps.iter().map(|p| format!("{}: {}", p.name.name, ty(&p.ty))).collect::<Vec<_>>().join(", ")
}

fn ty(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(i) => i.name.clone(),
        TypeExpr::Array(e, n, _) => format!("[{}; {}]", ty(e), expr(n)),
    }
}

fn expr(e: &Expr) -> String {
    expr_at(e, 0)
}

/// An expression; blocks inside it are laid out at `indent`.
fn expr_at(e: &Expr, indent: usize) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Field(b, f) => format!("{}.{}", expr_at(b, indent), f.name),
        ExprKind::Index(b, i) => format!("{}[{}]", expr_at(b, indent), expr_at(i, indent)),
        ExprKind::Unary(UnOp::Neg, x) => format!("-{}", expr_at(x, indent)),
        ExprKind::Unary(UnOp::Not, x) => format!("!{}", expr_at(x, indent)),
        ExprKind::Binary(op, a, b) => {
            format!("{} {} {}", expr_at(a, indent), op.symbol(), expr_at(b, indent))
        }
        ExprKind::Cast(x, t) => format!("{} as {}", expr_at(x, indent), ty(t)),
        ExprKind::Call(f, args) => format!(
            "{}({})",
            f.name,
            args.iter().map(|a| expr_at(a, indent)).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Paren(x) => format!("({})", expr_at(x, indent)),
        ExprKind::If(c, then, els) => {
            let mut s = format!("if {} {}", expr_at(c, indent), block_text(then, indent));
            if let Some(e) = els {
                let _ = write!(s, " else {}", expr_at(e, indent));
            }
            s
        }
        ExprKind::Block(b) => block_text(b, indent),
    }
}

fn block_text(b: &Block, indent: usize) -> String {
    let mut p = Printer { out: String::new(), indent: indent + 1 };
    for s in &b.stmts {
        p.stmt(s);
    }
    if let Some(t) = &b.tail {
        let s = expr_at(t, indent + 1);
        p.line(&s);
    }
    let mut s = String::from("{\n");
    s.push_str(&p.out);
    for _ in 0..indent {
        s.push_str("    ");
    }
    s.push('}');
    s
}

impl fmt::Display for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print(self))
    }
}
