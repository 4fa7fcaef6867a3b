//! Names: normalised into words, then each word the customer typed is paired with a word of
//! the record, whatever field the record holds it in (given names and surname swapped, a
//! middle name typed with the first), each record word used once.
//!
//! Normalising: accents and tone marks go (`Olúwaṣeun` → `oluwaseun`, Hausa hooked letters
//! `ɗ ƙ ɓ ƴ` → `d k b y`), case, apostrophes (`Ya'u` → `yau`), hyphens and dots (separators),
//! titles (`Alhaji`, `Chief`, `Mrs`, ...), and the common spellings of one name fold into one
//! (`Mohammed` / `Muhammad`, `Ibraheem` / `Ibrahim`, `Micheal` / `Michael`, ...).
//!
//! Scoring: 1 for the same word, or an initial and a word it begins (`T.` / `Tunde`);
//! otherwise `1 − edits ÷ letters of the longer word` (strsim's optimal string alignment: an
//! edit is a letter added, dropped or changed, or two neighbours swapped), so a one-letter
//! typo in `Okafor` scores 0.83 and another name (`Adebayo` / `Adebola`) 0.71. A field's score
//! is that of its worst word, or of the field's words run together when that is better
//! (`Ade-Ojo` / `Adeojo`, `Chukwu Emeka` / `Chukwuemeka`). Jaro-Winkler is not used: it
//! rewards a shared beginning, and Yoruba names share long ones (`Oluwaseun` / `Oluwaseyi`
//! 0.91, `Adebayo` / `Adebola` 0.91, both other names).

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Where a word sits in a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    First,
    Middle,
    Last,
    /// A record with only a full name: no position known.
    Any,
}

/// Words that are not part of anyone's name.
const TITLES: [&str; 16] = [
    "mr", "mrs", "ms", "miss", "dr", "chief", "alhaji", "alhaja", "hajia", "hajiya", "engr",
    "prof", "barr", "rev", "pastor", "sir",
];

/// Spellings of one name, the first of each group standing for all: Arabic names in their
/// Hausa, Yoruba and English transliterations, and common English variants.
const VARIANTS: [&[&str]; 48] = [
    &[
        "muhammad",
        "mohammed",
        "mohammad",
        "muhammed",
        "mohamed",
        "muhamad",
        "mohamad",
        "muhammadu",
        "mohd",
        "muhd",
    ],
    &["abubakar", "abubakr", "aboubakar", "abubakari"],
    &[
        "aisha", "aishat", "aishatu", "ayesha", "aysha", "aishah", "aisat",
    ],
    &["usman", "uthman", "othman", "osman", "usmanu"],
    &["ibrahim", "ibraheem", "ibrahima", "ebrahim"],
    &["yusuf", "yusuff", "yussuf", "yusufu", "yousuf", "yousef"],
    &["abdullahi", "abdullah", "abdulahi", "abdallah"],
    &["fatima", "fatimah", "fatimat", "fatimatu", "fatuma"],
    &["suleiman", "sulaiman", "suleman", "sulaimon", "sulayman"],
    &["ismail", "ismaila", "ismaeel", "ismaheel", "ismael"],
    &[
        "khadija", "khadijat", "khadijah", "hadiza", "hadizat", "kadijat", "hadijat",
    ],
    &["zainab", "zainabu", "zaynab", "zeinab"],
    &["maryam", "mariam", "maryamu", "mariamu"],
    &["abdulrahman", "abdurrahman", "abdulrahaman", "abdurahman"],
    &["rasheed", "rashid", "rashidi", "rashed"],
    &["kareem", "karim"],
    &["saheed", "sahid", "saeed", "sayeed"],
    &["lateef", "latif", "latifu"],
    &["waheed", "wahid"],
    &["tajudeen", "tajudin", "tajuddeen", "tajuddin"],
    &["kazeem", "kazim", "kasim", "kassim", "qasim"],
    &["yakubu", "yaqub", "yakub", "yaqoob"],
    &["idris", "idrisu", "idrees"],
    &["haruna", "harun", "haroon", "haroun"],
    &["isa", "issa"],
    &["hauwa", "hawa", "hawwa"],
    &["aminu", "amin", "ameen"],
    &["abdulkadir", "abdulqadir", "abdulkadiri"],
    &["mustapha", "mustafa", "moustapha"],
    &["bashir", "basheer", "bashiru"],
    &["nasir", "nasiru", "naseer"],
    &["jamila", "jamilah", "jamilat", "jameela"],
    &["habib", "habeeb", "habibu"],
    &["hassan", "hasan", "hasanu"],
    &["hussain", "hussaini", "husseini", "hussein", "husain"],
    &["umar", "umaru", "omar", "omaru"],
    &["aliyu", "aliu", "aliyyu"],
    &["salisu", "salis"],
    &["shehu", "shehhu"],
    &["sadiq", "sadiku", "sadik", "sadeeq"],
    &["michael", "micheal"],
    &["matthew", "mathew"],
    &["phillip", "philip"],
    &["stephen", "steven"],
    &["emmanuel", "emmanual", "emanuel"],
    &["elizabeth", "elisabeth"],
    &["catherine", "katherine", "kathrine"],
    &["anne", "ann"],
];

/// Each variant spelling → the spelling that stands for its group.
static CANONICAL: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    VARIANTS
        .iter()
        .flat_map(|group| group.iter().map(|v| (*v, group[0])))
        .collect()
});

/// A name as comparable words.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut clean = String::with_capacity(name.len());
    // Most names are ASCII already: nothing to decompose.
    let chars: Box<dyn Iterator<Item = char>> = if name.is_ascii() {
        Box::new(name.chars())
    } else {
        Box::new(name.nfkd())
    };
    for c in chars {
        match c {
            c if is_combining_mark(c) => {}
            '\'' | '’' | '‘' | 'ʼ' | '`' | '´' => {}
            c if c.is_alphanumeric() => {
                for l in c.to_lowercase() {
                    clean.push(match l {
                        'ɓ' => 'b',
                        'ɗ' => 'd',
                        'ƙ' => 'k',
                        'ƴ' => 'y',
                        other => other,
                    });
                }
            }
            _ => clean.push(' '),
        }
    }
    let all: Vec<&str> = clean.split_whitespace().collect();
    let named: Vec<&str> = all
        .iter()
        .copied()
        .filter(|w| !TITLES.contains(w))
        .collect();
    let kept = if named.is_empty() { all } else { named };
    kept.into_iter()
        .map(|w| CANONICAL.get(w).copied().unwrap_or(w).to_string())
        .collect()
}

/// How alike two words are, 0 to 1.
pub(crate) fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    if (la == 1 && b.starts_with(a)) || (lb == 1 && a.starts_with(b)) {
        return 1.0;
    }
    let longer = la.max(lb);
    if longer == 0 {
        return 0.0;
    }
    1.0 - strsim::osa_distance(a, b) as f64 / longer as f64
}

/// The best [`similarity`] two words of these lengths could have (initials aside).
fn length_bound(a: &str, b: &str) -> f64 {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la.min(lb) <= 1 {
        return 1.0;
    }
    1.0 - la.abs_diff(lb) as f64 / la.max(lb) as f64
}

/// The words of one field the customer typed.
pub(crate) struct Typed<'a> {
    pub(crate) part: Part,
    pub(crate) words: &'a [String],
}

/// The scores of the typed fields (in their order): `None` when the record holds nothing to
/// compare a field with (no middle name on record, say). A typed word is looked for in
/// another field of the record only where it is at least `floor` alike: a middle name the
/// record lacks is not compared with a surname nobody typed.
pub(crate) fn compare(
    typed: &[Typed<'_>],
    record: &[(Part, Vec<String>)],
    floor: f64,
) -> Vec<Option<f64>> {
    // Every (typed word, record word) pair, best first; on a tie the pair in the same field.
    let pool: Vec<(Part, &str)> = record
        .iter()
        .flat_map(|(part, ws)| ws.iter().map(move |w| (*part, w.as_str())))
        .collect();
    let typed_words: Vec<(usize, Part, &str)> = typed
        .iter()
        .enumerate()
        .flat_map(|(f, t)| t.words.iter().map(move |w| (f, t.part, w.as_str())))
        .collect();
    let mut pairs = Vec::with_capacity(typed_words.len() * pool.len());
    for (i, (_, part, word)) in typed_words.iter().enumerate() {
        for (j, (rpart, rword)) in pool.iter().enumerate() {
            let same = part == rpart;
            // Words of lengths too far apart cannot reach `floor`: no need to measure.
            if !same && length_bound(word, rword) < floor {
                continue;
            }
            let score = similarity(word, rword);
            if same || score >= floor {
                pairs.push((score, same, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut best: Vec<Option<f64>> = vec![None; typed_words.len()];
    let mut used = vec![false; pool.len()];
    for (score, _, i, j) in pairs {
        if best[i].is_none() && !used[j] {
            best[i] = Some(score);
            used[j] = true;
        }
    }
    typed
        .iter()
        .enumerate()
        .map(|(f, t)| {
            let scores: Vec<Option<f64>> = typed_words
                .iter()
                .zip(&best)
                .filter(|((field, _, _), _)| *field == f)
                .map(|(_, s)| *s)
                .collect();
            if scores.iter().all(Option::is_none) && !record_has(record, t.part) {
                return None;
            }
            // A typed word with no record word left matches nothing.
            let word_by_word = scores
                .iter()
                .map(|s| s.unwrap_or(0.0))
                .fold(1.0_f64, f64::min);
            // Words run together, against the same field of the record, where one side has
            // more than one word (`Ade-Ojo` / `Adeojo`).
            let together = t.words.concat();
            let joined = record
                .iter()
                .filter(|(p, ws)| {
                    (*p == t.part || *p == Part::Any)
                        && !ws.is_empty()
                        && (ws.len() > 1 || t.words.len() > 1)
                })
                .map(|(_, ws)| similarity(&together, &ws.concat()))
                .fold(0.0_f64, f64::max);
            Some(word_by_word.max(joined))
        })
        .collect()
}

/// Whether the record holds a word in `part` (or, for a record with only a full name, any).
fn record_has(record: &[(Part, Vec<String>)], part: Part) -> bool {
    record
        .iter()
        .any(|(p, ws)| !ws.is_empty() && (*p == part || *p == Part::Any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_normalised() {
        assert_eq!(words("Olúwaṣeun"), ["oluwaseun"]);
        assert_eq!(
            words("  ADÉBÁYỌ̀   Ògúnlẹ́sì-Ojo "),
            ["adebayo", "ogunlesi", "ojo"]
        );
        assert_eq!(words("Ya'u"), ["yau"]);
        assert_eq!(words("Alhaji Mohammed"), ["muhammad"]);
        assert_eq!(words("Ɗanjuma Ƙabir"), ["danjuma", "kabir"]);
        assert_eq!(words("Chief"), ["chief"], "a title alone is kept");
    }

    #[test]
    fn every_variant_is_a_normalised_word() {
        for group in VARIANTS {
            for v in group {
                assert_eq!(words(v), [group[0]], "{v}");
            }
        }
    }
}
