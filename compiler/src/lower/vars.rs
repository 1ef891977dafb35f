//! Parameters and variables: their homes (registers `r6`-`r8`, then stack slots), and the
//! temporaries expressions are evaluated in.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn params(&mut self, def: &EntryDef, request: usize) -> Option<u32> {
        let want: &[&str] = match def.kind {
            EntryKind::Filter => &["packet"],
            EntryKind::Owns | EntryKind::Size => &["layout"],
            EntryKind::Acl => &["layout", "request"],
        };
        let shape = match def.kind {
            EntryKind::Filter => "filter NAME(p: packet)",
            EntryKind::Owns => "owns NAME(x: LAYOUT)",
            EntryKind::Acl => "acl NAME(x: LAYOUT, req: request) -> bool",
            EntryKind::Size => "size NAME(x: LAYOUT) -> u64",
        };
        let expect_ret = match def.kind {
            EntryKind::Acl => Some("bool"),
            EntryKind::Size => Some("u64"),
            _ => None,
        };
        let ret_name = match &def.ret {
            Some(TypeExpr::Named(n)) => Some(n.name.as_str()),
            Some(_) => Some("?"),
            None => None,
        };
        if ret_name != expect_ret {
            let span = def.ret.as_ref().map_or(def.name.span, TypeExpr::span);
            self.diags.push(
                Diagnostic::new(
                    "udf::entry::result",
                    format!("`{}` entry points have this form: {shape}", def.kind.keyword()),
                )
                .label(span, "wrong result type")
                .help(format!("write `{shape}`")),
            );
        }
        if def.params.len() != want.len() {
            self.diags.push(
                Diagnostic::new(
                    "udf::entry::params",
                    format!("`{}` takes {} parameter(s)", def.kind.keyword(), want.len()),
                )
                .label(def.name.span, format!("{} given", def.params.len()))
                .help(format!("write `{shape}`")),
            );
            return None;
        }
        let mut size = None;
        for (p, w) in def.params.iter().zip(want) {
            let tname = match &p.ty {
                TypeExpr::Named(n) => n.name.as_str(),
                _ => "",
            };
            let kind = match *w {
                "packet" if tname == "packet" => Some(VarKind::Packet),
                "request" if tname == "request" => {
                    Some(VarKind::Object { layout: request, offset: 0 })
                }
                "layout" => match self.items.layout_index.get(tname) {
                    Some(&i) => {
                        let offset = if def.kind == EntryKind::Acl { 16 } else { 0 };
                        size = Some(self.items.layouts[i].size);
                        Some(VarKind::Object { layout: i, offset })
                    }
                    None => None,
                },
                _ => None,
            };
            match kind {
                Some(kind) => self.vars.push(Var {
                    name: p.name.name.clone(),
                    kind,
                    range: None,
                    guarded: false,
                }),
                None => {
                    self.diags.push(
                        Diagnostic::new(
                            "udf::entry::params",
                            format!("this parameter must be a {w}"),
                        )
                        .label(p.ty.span(), format!("expected a {w}"))
                        .help(format!("write `{shape}`")),
                    );
                }
            }
        }
        size
    }

    pub(super) fn lookup(&self, name: &str) -> Option<usize> {
        self.vars.iter().rposition(|v| v.name == name)
    }

    pub(super) fn alloc_home(&mut self, span: Span) -> Lowered<Home> {
        if let Some(r) = self.free_regs.pop() {
            return Ok(Home::Reg(r));
        }
        match self.code.alloc_slot(8) {
            Ok(off) => Ok(Home::Stack(off)),
            Err(_) => Err(self.error(
                Diagnostic::new(
                    "udf::unsupported::stack",
                    "too many variables live at once for the 512-byte stack",
                )
                .label(span, "this one does not fit"),
            )),
        }
    }

    /// Begins a block's scope.
    pub(super) fn open_scope(&self) -> Scope {
        Scope {
            mark: self.vars.len(),
            ranges: self.vars.iter().map(|v| (v.range, v.guarded)).collect(),
        }
    }

    /// Ends a block's scope: its variables go, and the ranges a guard inside it gave the
    /// variables outside are undone.
    pub(super) fn close_scope(&mut self, scope: Scope) {
        self.pop_scope(scope.mark);
        for (v, (range, guarded)) in self.vars.iter_mut().zip(scope.ranges) {
            v.range = range;
            v.guarded = guarded;
        }
    }

    /// Ends a scope: variables declared since `mark` go, their homes are freed.
    pub(super) fn pop_scope(&mut self, mark: usize) {
        while self.vars.len() > mark {
            let v = self.vars.pop().expect("nonempty");
            if let VarKind::Scalar { home, .. } = v.kind {
                match home {
                    Home::Reg(r) => self.free_regs.push(r),
                    Home::Stack(_) => self.code.free_slot(8),
                }
            }
        }
    }

    pub(super) fn store(&mut self, home: Home, op: Operand, depth: usize) -> Lowered<()> {
        match (home, op) {
            (Home::Reg(r), Operand::Reg(s)) => {
                if r != s {
                    self.emit(mov(r, Source::Reg(s)));
                }
            }
            (Home::Reg(r), Operand::Imm(v)) => self.load_const(r, v),
            (Home::Stack(off), _) => {
                let r = self.materialize(op, depth)?;
                self.emit(Insn::Store { size: Size::DW, base: Reg::R10, off, src: Source::Reg(r) });
            }
        }
        Ok(())
    }

    pub(super) fn load_const(&mut self, r: Reg, v: u64) {
        if let Some(i) = imm_fits(v) {
            self.emit(mov(r, Source::Imm(i)));
        } else if v <= u32::MAX as u64 {
            self.emit(alu(Width::W32, AluOp::Mov, r, Source::Imm(v as u32 as i32)));
        } else {
            self.emit(Insn::LoadImm64 { dst: r, imm: v });
        }
    }

    pub(super) fn temp(&mut self, depth: usize) -> Lowered<Reg> {
        match TEMPS.get(depth) {
            Some(r) => Ok(*r),
            None => Err(self.error(
                Diagnostic::new(
                    "udf::unsupported::depth",
                    "this expression nests too deeply for the registers",
                )
                .label(self.span, "too deep")
                .help("split it with `let`"),
            )),
        }
    }

    /// The value in the temporary of `depth` (a copy, free to change).
    pub(super) fn materialize(&mut self, op: Operand, depth: usize) -> Lowered<Reg> {
        let t = self.temp(depth)?;
        match op {
            Operand::Reg(r) if r == t => {}
            Operand::Reg(r) => self.emit(mov(t, Source::Reg(r))),
            Operand::Imm(v) => self.load_const(t, v),
        }
        Ok(t)
    }
}

/// What a block's end restores: the variables declared before it, and their ranges.
pub(super) struct Scope {
    mark: usize,
    ranges: Vec<(Option<(u64, u64)>, bool)>,
}
