//! Birth stacks for `leakspy leaks --pid`: the survivors of the three snapshots joined, by address,
//! to the objects a recording between the first two snapshots saw born
//! ([`leakspy_python::record::record_births`]), for the types whose survivors have no tracemalloc
//! site. Each survivor a sample charged to a stack is one sampled (type, stack) pair; a type's
//! sites are the shares of its pairs, flagged as sampled, as in `leakspy record`.

use crate::snapshot::{Survivor, SurvivorGroup};
use crate::thousands;
use leakspy_python::record::births::Births;
use leakspy_python::record::SiteFrameOut;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};

/// How many sites the text shows per type.
const SITES_SHOWN: usize = 3;

/// The sampled birth stacks of one survivor group.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BornAt {
    /// Always true: shares of sampled pairs, estimates.
    pub sampled: bool,
    /// Survivors of the group that a sample saw born.
    pub seen_born: u64,
    /// Survivors a sample charged to a stack (the pairs behind the shares).
    pub pairs: u64,
    /// Most pairs first.
    pub sites: Vec<BornSite>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BornSite {
    /// Innermost first.
    pub frames: Vec<SiteFrameOut>,
    pub pairs: u64,
    /// `pairs` over the group's pairs.
    pub share: f64,
}

/// Give every group without a tracemalloc site the sampled birth stacks of its survivors.
pub fn attach(groups: &mut [SurvivorGroup], survivors: &[Survivor<'_>], births: &Births) {
    #[derive(Default)]
    struct Acc {
        seen: u64,
        sites: HashMap<u32, u64>,
    }
    let mut by_type: HashMap<&str, Acc> = HashMap::new();
    for s in survivors.iter().filter(|s| s.site.is_empty()) {
        let Some((ty, site)) = births.get(s.addr) else {
            continue;
        };
        // The address may hold a newer object of another type than the one the sample saw.
        if ty != s.type_name {
            continue;
        }
        let a = by_type.entry(s.type_name).or_default();
        a.seen += 1;
        if let Some(site) = site {
            *a.sites.entry(site).or_insert(0) += 1;
        }
    }
    for g in groups.iter_mut().filter(|g| g.frames.is_empty()) {
        let Some(a) = by_type.get(g.type_name.as_str()) else {
            g.born_at = Some(BornAt {
                sampled: true,
                seen_born: 0,
                pairs: 0,
                sites: Vec::new(),
            });
            continue;
        };
        let pairs: u64 = a.sites.values().sum();
        let mut sites: Vec<BornSite> = a
            .sites
            .iter()
            .map(|(&site, &n)| BornSite {
                frames: births.sites.get(site as usize).cloned().unwrap_or_default(),
                pairs: n,
                share: n as f64 / pairs.max(1) as f64,
            })
            .collect();
        sites.sort_by(|x, y| {
            y.pairs
                .cmp(&x.pairs)
                .then_with(|| format!("{:?}", x.frames).cmp(&format!("{:?}", y.frames)))
        });
        g.born_at = Some(BornAt {
            sampled: true,
            seen_born: a.seen,
            pairs,
            sites,
        });
    }
}

/// The line that says where the birth stacks come from.
pub fn header(b: &Births) -> String {
    format!(
        "born at: sampled ({} samples over {:.1} s between the first two snapshots): shares of the \
         (type, stack) pairs the samples saw, for survivors without a tracemalloc site",
        thousands(b.samples),
        b.duration_s
    )
}

/// `  (N sampled pairs)` after the group's line, as `leakspy record` says it.
pub fn pairs_note(b: &BornAt) -> String {
    crate::record::pairs_note(b.pairs)
}

/// The sampled sites under a survivor group's line.
pub fn render(b: &BornAt, w: &mut dyn Write) -> io::Result<()> {
    let pad = "";
    if b.seen_born == 0 {
        return writeln!(
            w,
            "  {pad:>12}  {pad:>11}  (born at: none seen born by the samples, which see only GC-tracked objects)"
        );
    }
    if b.sites.is_empty() {
        return writeln!(
            w,
            "  {pad:>12}  {pad:>11}  (born at: no sample saw a frame holding one; {} of these seen born)",
            thousands(b.seen_born)
        );
    }
    for s in b.sites.iter().take(SITES_SHOWN) {
        writeln!(
            w,
            "  {pad:>12}  {pad:>11}  {:3.0}% born at {} (sampled)",
            100.0 * s.share,
            crate::record::frames_text(&s.frames)
        )?;
    }
    if b.sites.len() > SITES_SHOWN {
        writeln!(
            w,
            "  {pad:>12}  {pad:>11}  ... {} more sites",
            b.sites.len() - SITES_SHOWN
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakspy_python::record::births::BornObject;

    fn frame(function: &str) -> SiteFrameOut {
        SiteFrameOut {
            function: Some(function.into()),
            filename: "app.py".into(),
            line: Some(3),
        }
    }

    #[test]
    fn survivors_get_the_shares_of_their_sampled_sites() {
        let mut births = Births {
            types: vec!["Leak".into(), "Other".into()],
            sites: vec![vec![frame("a")], vec![frame("b")]],
            ..Births::default()
        };
        let born = |ty, site| BornObject { ty, site };
        births.objects.insert(1, born(0, Some(0)));
        births.objects.insert(2, born(0, Some(0)));
        births.objects.insert(3, born(0, Some(1)));
        births.objects.insert(4, born(0, None));
        // Address 5 was seen born as Other: a Leak there now is another object.
        births.objects.insert(5, born(1, Some(1)));
        let surv = |addr| Survivor {
            addr,
            type_name: "Leak",
            site: &[],
            bytes: 48,
        };
        let objects: Vec<Survivor<'_>> = (1..=6).map(surv).collect();
        let mut groups = crate::snapshot::group_survivors(&objects);
        attach(&mut groups, &objects, &births);
        let b = groups[0].born_at.as_ref().unwrap();
        assert_eq!((b.seen_born, b.pairs), (4, 3));
        assert_eq!(b.sites[0].frames, vec![frame("a")]);
        assert_eq!(b.sites[0].pairs, 2);
        assert!((b.sites[0].share - 2.0 / 3.0).abs() < 1e-9);
        let mut text = Vec::new();
        crate::snapshot::render_survivors(&groups, 5, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("(3 sampled pairs: too few"), "{text}");
        assert!(
            text.contains(" 67% born at a (app.py:3) (sampled)"),
            "{text}"
        );
    }
}
