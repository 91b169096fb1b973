//! The addon dependency graph: Odoo's load order, missing dependencies, cycles, closures
//! and `auto_install`.
//!
//! # Odoo's rules, as read in its source
//!
//! - **Order** (`odoo/modules/graph.py` in 16/17, `module_graph.py` later): a module's
//!   *depth* is the longest dependency path from it down to a module without
//!   dependencies (0 for those); modules load sorted by `(depth, name)`.
//! - **Skipped modules**: a module that is not installable, depends on a module that is
//!   not available, or sits in a dependency loop is left out of the graph, and so is
//!   every module that depends on it, transitively.
//! - **No implicit `base`**: `load_manifest` defaults `depends` to `[]` and adds nothing;
//!   a module without `depends` has depth 0, like `base`. We do the same.
//! - **`auto_install`**: `True` means "all of `depends`", a list means that list (`[]`:
//!   always). A module joins an installation when all of its triggers are in it, and
//!   brings its own dependencies; this repeats until nothing changes.
//!
//! Edges point from a module to what it depends on.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::path::PathBuf;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::addon::{AddonSet, ScanReport, Shadowed};
use crate::manifest::{AutoInstall, Span};

/// A dependency that no addons path provides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingDependency {
    /// The module that declares the dependency.
    pub addon: String,
    /// The module it names, which is nowhere to be found.
    pub depends_on: String,
    /// The manifest that declares it.
    pub file: PathBuf,
    /// The `depends` entry in that manifest.
    #[serde(skip)]
    pub span: Option<Span>,
    /// 1-based line of the entry, when known.
    pub line: Option<usize>,
}

/// Why a module is left out of the load order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// `installable` is false.
    NotInstallable,
    /// Some dependencies are not on any addons path.
    MissingDependencies {
        /// The dependencies not found.
        modules: Vec<String>,
    },
    /// The module is part of a dependency loop.
    DependencyLoop,
    /// Some dependencies are themselves skipped.
    DependsOnSkipped {
        /// The dependencies that are skipped.
        modules: Vec<String>,
    },
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    /// Declared dependencies, in manifest order, duplicates removed.
    depends: Vec<String>,
    installable: bool,
    /// `None`: not auto-installed; `Some(list)`: joins when all of `list` are present.
    auto_install: Option<Vec<String>>,
    /// `Some(depth)` when loadable.
    depth: Option<usize>,
}

/// The dependency graph of a set of addons.
#[derive(Debug, Clone)]
pub struct AddonGraph {
    graph: DiGraph<Node, ()>,
    /// Name to node; nodes were added in name order, so node order is name order.
    index: HashMap<String, NodeIndex>,
    missing: Vec<MissingDependency>,
    cycles: Vec<Vec<String>>,
    skipped: BTreeMap<String, SkipReason>,
}

impl AddonGraph {
    /// Builds the graph of the addons of a scan.
    pub fn from_scan(scan: &ScanReport) -> Self {
        Self::new(&scan.addons)
    }

    /// Builds the graph of a set of addons.
    pub fn new(addons: &AddonSet) -> Self {
        let mut graph = DiGraph::with_capacity(addons.len(), addons.len() * 4);
        let mut index = HashMap::with_capacity(addons.len());
        // Nodes in name order, so that node indices sort like names.
        for addon in addons.iter() {
            let manifest = &addon.manifest;
            // Short lists: a linear scan beats hashing.
            let mut depends: Vec<String> = Vec::with_capacity(manifest.depends.len());
            for dep in manifest.depends_names() {
                if !depends.iter().any(|d| d == dep) {
                    depends.push(dep.to_owned());
                }
            }
            let auto_install = match &manifest.auto_install {
                AutoInstall::No => None,
                AutoInstall::Yes => Some(depends.clone()),
                AutoInstall::When(list) => Some(list.clone()),
            };
            let node = graph.add_node(Node {
                name: addon.name.clone(),
                depends,
                installable: manifest.installable,
                auto_install,
                depth: None,
            });
            index.insert(addon.name.clone(), node);
        }
        let mut missing = Vec::new();
        for (from, addon) in addons.iter().enumerate() {
            let from = NodeIndex::new(from);
            for (i, dep) in addon.manifest.depends.iter().enumerate() {
                if addon.manifest.depends[..i]
                    .iter()
                    .any(|d| d.value == dep.value)
                {
                    continue;
                }
                match index.get(dep.value.as_str()) {
                    Some(&to) => {
                        graph.add_edge(from, to, ());
                    }
                    None => {
                        missing.push(MissingDependency {
                            addon: addon.name.clone(),
                            depends_on: dep.value.clone(),
                            file: addon.manifest.path.clone(),
                            span: Some(dep.span),
                            line: Some(line_of(addon.manifest.source(), dep.span)),
                        });
                    }
                }
            }
        }
        let mut this = Self {
            graph,
            index,
            missing,
            cycles: Vec::new(),
            skipped: BTreeMap::new(),
        };
        this.resolve();
        this
    }

    /// Finds cycles, skipped modules and depths.
    fn resolve(&mut self) {
        let missing_by_addon: BTreeMap<&str, Vec<String>> =
            self.missing.iter().fold(BTreeMap::new(), |mut map, m| {
                map.entry(m.addon.as_str())
                    .or_insert_with(Vec::new)
                    .push(m.depends_on.clone());
                map
            });
        // Tarjan returns components in post order: dependencies before dependents.
        let components = petgraph::algo::tarjan_scc(&self.graph);
        let mut cycles = BTreeSet::new();
        let mut skipped = BTreeMap::new();
        for component in &components {
            let looped =
                component.len() > 1 || self.graph.contains_edge(component[0], component[0]);
            if looped {
                for cycle in cycles_of(&self.graph, component) {
                    cycles.insert(cycle);
                }
                for &node in component {
                    skipped.insert(self.graph[node].name.clone(), SkipReason::DependencyLoop);
                }
                continue;
            }
            let node = component[0];
            let name = self.graph[node].name.clone();
            if !self.graph[node].installable {
                skipped.insert(name, SkipReason::NotInstallable);
                continue;
            }
            if let Some(modules) = missing_by_addon.get(name.as_str()) {
                skipped.insert(
                    name,
                    SkipReason::MissingDependencies {
                        modules: modules.clone(),
                    },
                );
                continue;
            }
            let mut bad = Vec::new();
            let mut depth = 0;
            for dep in self.depends_nodes(node) {
                match self.graph[dep].depth {
                    Some(d) => depth = depth.max(d + 1),
                    None => bad.push(self.graph[dep].name.clone()),
                }
            }
            if bad.is_empty() {
                self.graph[node].depth = Some(depth);
            } else {
                bad.sort();
                skipped.insert(name, SkipReason::DependsOnSkipped { modules: bad });
            }
        }
        self.cycles = cycles.into_iter().collect();
        self.skipped = skipped;
    }

    fn depends_nodes(&self, node: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors_directed(node, Direction::Outgoing)
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.index.get(name).map(|&i| &self.graph[i])
    }

    /// Whether the graph knows this module.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Module names, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.graph.node_weights().map(|node| node.name.as_str())
    }

    /// A module's declared dependencies (manifest order, duplicates removed).
    pub fn depends(&self, name: &str) -> Option<&[String]> {
        self.node(name).map(|node| node.depends.as_slice())
    }

    /// Longest dependency path down to a module without dependencies; `None` for a
    /// skipped module.
    pub fn depth(&self, name: &str) -> Option<usize> {
        self.node(name).and_then(|node| node.depth)
    }

    /// Dependencies no addons path provides, by module then manifest order.
    pub fn missing(&self) -> &[MissingDependency] {
        &self.missing
    }

    /// Every dependency loop, each once, as `[a, b, c]` for `a -> b -> c -> a`, starting
    /// at its smallest name; sorted.
    pub fn cycles(&self) -> &[Vec<String>] {
        &self.cycles
    }

    /// Modules Odoo would leave out, with the reason.
    pub fn skipped(&self) -> &BTreeMap<String, SkipReason> {
        &self.skipped
    }

    /// Every loadable module in Odoo's load order: by depth, then name.
    pub fn order(&self) -> Vec<&str> {
        self.sorted(self.graph.node_indices())
    }

    /// The given modules in Odoo's load order; skipped and unknown ones are left out.
    pub fn order_of<'a, I>(&self, names: I) -> Vec<&str>
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.sorted(
            names
                .into_iter()
                .filter_map(|name| self.index.get(name).copied()),
        )
    }

    fn sorted(&self, nodes: impl Iterator<Item = NodeIndex>) -> Vec<&str> {
        let mut keyed: Vec<(usize, &str)> = nodes
            .filter_map(|node| {
                let node = &self.graph[node];
                node.depth.map(|depth| (depth, node.name.as_str()))
            })
            .collect();
        keyed.sort_unstable();
        keyed.dedup();
        keyed.into_iter().map(|(_, name)| name).collect()
    }

    /// The given modules and everything they depend on, transitively (unknown names are
    /// kept out), in name order.
    pub fn dependencies_closure<'a, I>(&self, names: I) -> BTreeSet<String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.walk(names, Direction::Outgoing, None)
    }

    /// The given modules and every module that depends on them, transitively: what
    /// `-u` reloads. With `installed`, only installed modules are followed, as Odoo
    /// does (`button_upgrade` marks installed dependents only).
    pub fn dependents_closure<'a, I>(
        &self,
        names: I,
        installed: Option<&HashSet<String>>,
    ) -> BTreeSet<String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        self.walk(names, Direction::Incoming, installed)
    }

    fn walk<'a, I>(
        &self,
        names: I,
        direction: Direction,
        filter: Option<&HashSet<String>>,
    ) -> BTreeSet<String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<NodeIndex> = names
            .into_iter()
            .filter_map(|name| self.index.get(name).copied())
            .filter(|&node| seen.insert(node))
            .collect();
        while let Some(node) = queue.pop_front() {
            for next in self.graph.neighbors_directed(node, direction) {
                let allowed = filter.is_none_or(|filter| filter.contains(&self.graph[next].name));
                if allowed && seen.insert(next) {
                    queue.push_back(next);
                }
            }
        }
        seen.into_iter()
            .map(|node| self.graph[node].name.clone())
            .collect()
    }

    /// What installing `names` installs: their dependencies, then every `auto_install`
    /// module whose triggers are all present (with its own dependencies), repeated until
    /// nothing changes. Skipped modules never join through `auto_install`.
    pub fn install_closure<'a, I>(&self, names: I) -> BTreeSet<String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut set = self.dependencies_closure(names);
        let candidates: Vec<&Node> = self
            .graph
            .node_weights()
            .filter(|node| node.auto_install.is_some() && node.depth.is_some())
            .collect();
        loop {
            let joining: Vec<&str> = candidates
                .iter()
                .filter(|node| !set.contains(&node.name))
                .filter(|node| {
                    node.auto_install
                        .iter()
                        .flatten()
                        .all(|trigger| set.contains(trigger))
                })
                .map(|node| node.name.as_str())
                .collect();
            if joining.is_empty() {
                return set;
            }
            set.extend(self.dependencies_closure(joining));
        }
    }
}

/// Cycles inside one strongly connected component, each named whole and once: for each
/// member not yet on a reported cycle (in name order), the shortest cycle through it,
/// walking dependencies in name order. Every member ends up on a reported cycle.
fn cycles_of(graph: &DiGraph<Node, ()>, component: &[NodeIndex]) -> Vec<Vec<String>> {
    let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
    let mut covered: HashSet<NodeIndex> = HashSet::new();
    let mut cycles = Vec::new();
    // Node indices were assigned in name order, so index order is name order.
    for &start in &members {
        if covered.contains(&start) {
            continue;
        }
        let Some(path) = shortest_cycle(graph, &members, start) else {
            continue;
        };
        covered.extend(path.iter().copied());
        let names: Vec<String> = path.iter().map(|&n| graph[n].name.clone()).collect();
        cycles.push(rotate_to_smallest(names));
    }
    cycles
}

/// Breadth-first search from `start` back to `start`, inside `members`.
fn shortest_cycle(
    graph: &DiGraph<Node, ()>,
    members: &BTreeSet<NodeIndex>,
    start: NodeIndex,
) -> Option<Vec<NodeIndex>> {
    let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph
            .neighbors_directed(node, Direction::Outgoing)
            .filter(|n| members.contains(n))
            .collect();
        next.sort_unstable();
        next.dedup();
        for n in next {
            if n == start {
                let mut path = vec![node];
                let mut at = node;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if n != start && !parent.contains_key(&n) {
                parent.insert(n, node);
                queue.push_back(n);
            }
        }
    }
    None
}

fn rotate_to_smallest(mut cycle: Vec<String>) -> Vec<String> {
    if let Some(pos) = cycle
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.cmp(b.1))
        .map(|(i, _)| i)
    {
        cycle.rotate_left(pos);
    }
    cycle
}

/// `a -> b -> c -> a`.
pub fn cycle_to_string(cycle: &[String]) -> String {
    let mut text = cycle.join(" -> ");
    if let Some(first) = cycle.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}

/// 1-based line of a span's start.
fn line_of(source: &str, span: Span) -> usize {
    let upto = source
        .as_bytes()
        .get(..span.offset)
        .unwrap_or(source.as_bytes());
    upto.iter().filter(|&&b| b == b'\n').count() + 1
}

/// A serialisable view of (part of) the graph, for `odd graph`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GraphReport {
    /// Install order.
    pub order: Vec<String>,
    /// The modules in the view, by name.
    pub addons: BTreeMap<String, AddonEntry>,
    /// Dependencies that are on no addons path, with who depends on them.
    pub missing: Vec<MissingDependency>,
    /// Each cycle as its modules, `[a, b]` for `a -> b -> a`.
    pub cycles: Vec<Vec<String>>,
    /// Copies hidden by a module of the same name on an earlier addons path.
    pub shadowed: Vec<Shadowed>,
    /// Modules left out of the load order, with why.
    pub skipped: BTreeMap<String, SkipReason>,
}

/// One module in a [`GraphReport`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddonEntry {
    /// The module's directory.
    pub path: PathBuf,
    /// The manifest's version, as written.
    pub version: Option<String>,
    /// Its direct dependencies.
    pub depends: Vec<String>,
    /// Its depth in the load order (0 for modules without dependencies); none when skipped.
    pub depth: Option<usize>,
}

/// Which part of the graph a [`GraphReport`] shows.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Modules to start from; empty: the whole graph.
    pub modules: Vec<String>,
    /// Follow dependents instead of dependencies.
    pub reverse: bool,
    /// Add what `auto_install` brings in (see [`AddonGraph::install_closure`]);
    /// ignored with `reverse`.
    pub auto_install: bool,
}

/// A module named in a [`Selection`] is not on any addons path.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("unknown module{}: {}", if names.len() > 1 { "s" } else { "" }, names.join(", "))]
#[diagnostic(code(odd::graph::unknown_module))]
pub struct UnknownModules {
    /// The names that are not in the graph.
    pub names: Vec<String>,
    /// The closest known name, when one is close.
    #[help]
    pub help: Option<String>,
}

impl GraphReport {
    /// The view of `selection` over a scan and its graph.
    pub fn new(
        scan: &ScanReport,
        graph: &AddonGraph,
        selection: &Selection,
    ) -> Result<Self, UnknownModules> {
        let unknown: Vec<String> = selection
            .modules
            .iter()
            .filter(|name| !graph.contains(name))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            let help = unknown
                .first()
                .and_then(|name| {
                    graph
                        .names()
                        .map(|known| (strsim::jaro_winkler(name, known), known))
                        .filter(|(score, _)| *score > 0.85)
                        .max_by(|a, b| a.0.total_cmp(&b.0))
                })
                .map(|(_, known)| format!("did you mean `{known}`?"));
            return Err(UnknownModules {
                names: unknown,
                help,
            });
        }
        let names: BTreeSet<String> = if selection.modules.is_empty() {
            graph.names().map(str::to_owned).collect()
        } else {
            let selected = selection.modules.iter().map(String::as_str);
            if selection.reverse {
                graph.dependents_closure(selected, None)
            } else if selection.auto_install {
                graph.install_closure(selected)
            } else {
                graph.dependencies_closure(selected)
            }
        };
        let order = graph
            .order_of(names.iter().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect();
        let addons = names
            .iter()
            .filter_map(|name| {
                let addon = scan.addons.get(name)?;
                Some((
                    name.clone(),
                    AddonEntry {
                        path: addon.dir.clone(),
                        version: addon.manifest.version.clone(),
                        depends: graph.depends(name).unwrap_or_default().to_vec(),
                        depth: graph.depth(name),
                    },
                ))
            })
            .collect();
        let missing = graph
            .missing()
            .iter()
            .filter(|m| names.contains(&m.addon))
            .cloned()
            .collect();
        let cycles = graph
            .cycles()
            .iter()
            .filter(|cycle| cycle.iter().any(|name| names.contains(name)))
            .cloned()
            .collect();
        let shadowed = scan
            .shadowed
            .iter()
            .filter(|s| names.contains(&s.name))
            .cloned()
            .collect();
        let skipped = graph
            .skipped()
            .iter()
            .filter(|(name, _)| names.contains(*name))
            .map(|(name, reason)| (name.clone(), reason.clone()))
            .collect();
        Ok(Self {
            order,
            addons,
            missing,
            cycles,
            shadowed,
            skipped,
        })
    }

    /// Whether the view shows problems (missing dependencies or loops).
    pub fn has_problems(&self) -> bool {
        !self.missing.is_empty() || !self.cycles.is_empty()
    }

    /// Graphviz text: one node per module, an edge from each module to each dependency.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph addons {\n    rankdir=BT;\n");
        for name in self.addons.keys() {
            out.push_str(&format!("    {};\n", dot_id(name)));
        }
        for (name, entry) in &self.addons {
            for dep in &entry.depends {
                out.push_str(&format!("    {} -> {};\n", dot_id(name), dot_id(dep)));
            }
        }
        out.push_str("}\n");
        out
    }
}

fn dot_id(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}
