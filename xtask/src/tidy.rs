//! Tidy checks on the workspace's dependency graph, run as ordinary tests.
//!
//! The domain crate `wastatus-domain` must stay free of I/O: no async runtime, no HTTP stack,
//! no database driver, no WhatsApp client. These tests read `cargo metadata` and fail, naming
//! the offending dependency and the path through which it arrives, if one creeps in.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// The package whose dependencies are checked.
const DOMAIN: &str = "wastatus-domain";

/// Packages that do I/O (or are I/O runtimes) and must not be reachable from the domain crate
/// through normal dependencies.
const IO_DENYLIST: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "reqwest",
    "sea-orm",
    "sqlx",
    "whatsapp-rust",
    "wacore",
    "tower",
    "mio",
    "rusqlite",
    "libsqlite3-sys",
    "tokio-postgres",
    "ureq",
    "async-std",
    "smol",
];

/// The parts of `cargo metadata --format-version 1` output these checks use.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_members: Vec<String>,
    resolve: Option<Resolve>,
}

/// A package as listed in `packages[]`.
#[derive(Debug, Deserialize)]
struct Package {
    id: String,
    name: String,
    #[serde(default)]
    dependencies: Vec<DeclaredDependency>,
}

/// A dependency as declared in a package's manifest (`packages[].dependencies[]`).
#[derive(Debug, Deserialize)]
struct DeclaredDependency {
    /// The package name, even when the dependency is renamed.
    name: String,
    /// `None` for normal dependencies, `"dev"` or `"build"` otherwise.
    kind: Option<String>,
    /// The `cfg(...)` or triple for platform-specific dependencies.
    target: Option<String>,
    /// Whether the dependency is only enabled by a feature.
    #[serde(default)]
    optional: bool,
}

/// The resolved dependency graph (`resolve`).
#[derive(Debug, Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

/// One package in the resolved graph with its outgoing edges.
#[derive(Debug, Deserialize)]
struct Node {
    id: String,
    #[serde(default)]
    deps: Vec<NodeDep>,
}

/// One outgoing edge of a resolved node.
#[derive(Debug, Deserialize)]
struct NodeDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<DepKind>,
}

/// One of the ways (normal, dev, build; possibly per platform) an edge is used.
#[derive(Debug, Deserialize)]
struct DepKind {
    kind: Option<String>,
}

impl NodeDep {
    /// Tells whether the edge is a normal dependency on at least one platform.
    fn is_normal(&self) -> bool {
        self.dep_kinds.iter().any(|k| k.kind.is_none())
    }
}

impl Metadata {
    /// Parses `cargo metadata --format-version 1` output.
    fn parse(json: &str) -> Result<Self> {
        serde_json::from_str(json).context("could not parse `cargo metadata` output")
    }

    /// Runs `cargo metadata` on this workspace and parses its output.
    fn of_workspace() -> Result<Self> {
        let manifest = crate::workspace::root().join("Cargo.toml");
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .output()
            .context("could not run `cargo metadata`")?;
        if !output.status.success() {
            bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let json = String::from_utf8(output.stdout).context("`cargo metadata` output is not UTF-8")?;
        Self::parse(&json)
    }

    /// Finds the workspace member called `name`.
    fn workspace_package(&self, name: &str) -> Result<&Package> {
        self.packages
            .iter()
            .find(|p| p.name == name && self.workspace_members.contains(&p.id))
            .ok_or_else(|| anyhow!("workspace member `{name}` not found in cargo metadata"))
    }

    /// Returns the package name for a package id, or the id itself if it is unknown.
    fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.packages.iter().find(|p| p.id == id).map_or(id, |p| p.name.as_str())
    }
}

/// Computes the transitive closure of normal (non-dev, non-build) dependencies of the workspace
/// member `root`.
///
/// The result maps each reachable package name (the root excluded) to one shortest path from the
/// root to it, as package names starting with the root. Edges are taken from
/// `resolve.nodes[].deps[].dep_kinds`; an edge counts if any of its kinds is normal, on any
/// platform. Note that `cargo metadata` resolves features for the whole workspace at once, so the
/// closure may over-approximate what the root alone pulls in, never under-approximate it.
fn normal_closure(metadata: &Metadata, root: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let resolve = metadata.resolve.as_ref().context("cargo metadata has no `resolve` section")?;
    let nodes: HashMap<&str, &Node> = resolve.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let root_id = metadata.workspace_package(root)?.id.as_str();

    // Breadth-first search, remembering each package's parent to rebuild shortest paths.
    let mut parent: HashMap<&str, Option<&str>> = HashMap::from([(root_id, None)]);
    let mut queue = VecDeque::from([root_id]);
    while let Some(id) = queue.pop_front() {
        let node = nodes.get(id).with_context(|| format!("package `{id}` missing from resolve.nodes"))?;
        for dep in node.deps.iter().filter(|d| d.is_normal()) {
            if !parent.contains_key(dep.pkg.as_str()) {
                parent.insert(&dep.pkg, Some(id));
                queue.push_back(&dep.pkg);
            }
        }
    }

    let mut closure = BTreeMap::new();
    for &id in parent.keys().filter(|&&id| id != root_id) {
        let mut path = vec![metadata.name_of(id).to_owned()];
        let mut current = id;
        while let Some(&Some(up)) = parent.get(current) {
            path.push(metadata.name_of(up).to_owned());
            current = up;
        }
        path.reverse();
        closure.insert(metadata.name_of(id).to_owned(), path);
    }
    Ok(closure)
}

/// Returns one message per denylisted package in `closure`, naming the path through which it is
/// reached.
fn denied_in(closure: &BTreeMap<String, Vec<String>>, denylist: &[&str]) -> Vec<String> {
    closure
        .iter()
        .filter(|(name, _)| denylist.contains(&name.as_str()))
        .map(|(name, path)| format!("`{name}` is a dependency through {}", path.join(" -> ")))
        .collect()
}

/// Returns one message per declaration of `forbidden` in `package`'s manifest outside
/// `[dev-dependencies]` (normal or build dependencies, on any platform).
fn non_dev_declarations(package: &Package, forbidden: &str) -> Vec<String> {
    package
        .dependencies
        .iter()
        .filter(|d| d.name == forbidden && d.kind.as_deref() != Some("dev"))
        .map(|d| {
            let section = match d.kind.as_deref() {
                Some("build") => "build-dependencies",
                _ => "dependencies",
            };
            match &d.target {
                Some(target) => format!("`{forbidden}` is listed under [target.'{target}'.{section}]"),
                None => format!("`{forbidden}` is listed under [{section}]"),
            }
        })
        .collect()
}

/// Returns the non-optional normal dependencies `package` declares that `closure` lacks: a
/// sanity check that the closure really is computed from the graph (it should lack none).
fn missing_direct_dependencies(package: &Package, closure: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    package
        .dependencies
        .iter()
        .filter(|d| d.kind.is_none() && !d.optional && !closure.contains_key(&d.name))
        .map(|d| d.name.clone())
        .collect()
}

#[test]
fn domain_has_no_io_dependency() -> Result<()> {
    let metadata = Metadata::of_workspace()?;
    let closure = normal_closure(&metadata, DOMAIN)?;
    let missing = missing_direct_dependencies(metadata.workspace_package(DOMAIN)?, &closure);
    assert!(missing.is_empty(), "the dependency closure of {DOMAIN} lacks its own dependencies {missing:?}");
    let problems = denied_in(&closure, IO_DENYLIST);
    assert!(
        problems.is_empty(),
        "{DOMAIN} must not depend on I/O crates (normal dependencies, transitively):\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

#[test]
fn domain_manifest_lists_tokio_only_as_dev_dependency() -> Result<()> {
    let metadata = Metadata::of_workspace()?;
    let problems = non_dev_declarations(metadata.workspace_package(DOMAIN)?, "tokio");
    assert!(
        problems.is_empty(),
        "{DOMAIN}'s Cargo.toml may list tokio only under [dev-dependencies]:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

mod tests {
    use super::*;

    /// A tiny hand-made graph: the domain reaches `tokio` through `helper`, uses `mockall` (which
    /// pulls `mio`) only as a dev-dependency, `cc-build` (which pulls `hyper`) only as a build
    /// dependency, and `serde` both as dev and normal. `helper` and `serde` form a cycle.
    const METADATA: &str = r#"{
        "packages": [
            {"id": "path+file:///w/crates/domain#wastatus-domain@0.1.0", "name": "wastatus-domain",
             "dependencies": [
                {"name": "helper", "kind": null, "target": null},
                {"name": "tokio", "kind": "dev", "target": null},
                {"name": "tokio", "kind": null, "target": "cfg(unix)"},
                {"name": "tokio", "kind": "build", "target": null}
             ]},
            {"id": "registry+x#helper@1.0.0", "name": "helper", "dependencies": []},
            {"id": "registry+x#tokio@1.0.0", "name": "tokio", "dependencies": []},
            {"id": "registry+x#mockall@1.0.0", "name": "mockall", "dependencies": []},
            {"id": "registry+x#mio@1.0.0", "name": "mio", "dependencies": []},
            {"id": "registry+x#cc-build@1.0.0", "name": "cc-build", "dependencies": []},
            {"id": "registry+x#hyper@1.0.0", "name": "hyper", "dependencies": []},
            {"id": "registry+x#serde@1.0.0", "name": "serde", "dependencies": []}
        ],
        "workspace_members": ["path+file:///w/crates/domain#wastatus-domain@0.1.0"],
        "resolve": {"nodes": [
            {"id": "path+file:///w/crates/domain#wastatus-domain@0.1.0", "deps": [
                {"name": "helper", "pkg": "registry+x#helper@1.0.0",
                 "dep_kinds": [{"kind": null, "target": null}]},
                {"name": "mockall", "pkg": "registry+x#mockall@1.0.0",
                 "dep_kinds": [{"kind": "dev", "target": null}]},
                {"name": "cc_build", "pkg": "registry+x#cc-build@1.0.0",
                 "dep_kinds": [{"kind": "build", "target": null}]},
                {"name": "serde", "pkg": "registry+x#serde@1.0.0",
                 "dep_kinds": [{"kind": "dev", "target": null}, {"kind": null, "target": null}]}
            ]},
            {"id": "registry+x#helper@1.0.0", "deps": [
                {"name": "tokio", "pkg": "registry+x#tokio@1.0.0",
                 "dep_kinds": [{"kind": null, "target": "cfg(unix)"}]},
                {"name": "serde", "pkg": "registry+x#serde@1.0.0",
                 "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "registry+x#serde@1.0.0", "deps": [
                {"name": "helper", "pkg": "registry+x#helper@1.0.0",
                 "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "registry+x#tokio@1.0.0", "deps": []},
            {"id": "registry+x#mockall@1.0.0", "deps": [
                {"name": "mio", "pkg": "registry+x#mio@1.0.0", "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "registry+x#mio@1.0.0", "deps": []},
            {"id": "registry+x#cc-build@1.0.0", "deps": [
                {"name": "hyper", "pkg": "registry+x#hyper@1.0.0", "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "registry+x#hyper@1.0.0", "deps": []}
        ]}
    }"#;

    fn closure() -> BTreeMap<String, Vec<String>> {
        normal_closure(&Metadata::parse(METADATA).unwrap(), DOMAIN).unwrap()
    }

    #[test]
    fn closure_follows_normal_edges_transitively() {
        let closure = closure();
        assert_eq!(closure.keys().collect::<Vec<_>>(), ["helper", "serde", "tokio"]);
        assert_eq!(closure["tokio"], ["wastatus-domain", "helper", "tokio"]);
        assert_eq!(closure["serde"], ["wastatus-domain", "serde"]);
    }

    #[test]
    fn closure_ignores_dev_and_build_edges() {
        let closure = closure();
        for name in ["mockall", "mio", "cc-build", "hyper"] {
            assert!(!closure.contains_key(name), "{name} should not be in the closure");
        }
    }

    #[test]
    fn denylist_check_names_the_path() {
        assert_eq!(
            denied_in(&closure(), IO_DENYLIST),
            ["`tokio` is a dependency through wastatus-domain -> helper -> tokio"]
        );
    }

    #[test]
    fn unknown_root_is_an_error() {
        let metadata = Metadata::parse(METADATA).unwrap();
        assert!(normal_closure(&metadata, "helper").is_err(), "helper is not a workspace member");
    }

    #[test]
    fn manifest_check_allows_only_dev_dependencies() {
        let metadata = Metadata::parse(METADATA).unwrap();
        let domain = metadata.workspace_package(DOMAIN).unwrap();
        assert_eq!(
            non_dev_declarations(domain, "tokio"),
            [
                "`tokio` is listed under [target.'cfg(unix)'.dependencies]",
                "`tokio` is listed under [build-dependencies]",
            ]
        );
        assert_eq!(non_dev_declarations(domain, "helper").len(), 1);
        assert!(non_dev_declarations(domain, "mockall").is_empty());
    }

    #[test]
    fn sanity_check_spots_direct_dependencies_missing_from_the_closure() {
        let metadata = Metadata::parse(METADATA).unwrap();
        let domain = metadata.workspace_package(DOMAIN).unwrap();
        let mut closure = closure();
        assert!(missing_direct_dependencies(domain, &closure).is_empty());
        closure.remove("helper");
        assert_eq!(missing_direct_dependencies(domain, &closure), ["helper"]);
    }
}
