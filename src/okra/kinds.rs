//! THE kind table: everything the code knows about a kind of job, in one entry. The job's
//! wire format and validation ([`crate::okra::OkraJob`]), who it is about (find, erase, reuse,
//! the pay lock), its Okra call and free lookup, okra-admin's flags, the sandbox's routes, the
//! README's tables and a JSON schema per kind all read it. Adding a kind is adding an entry
//! here and the sandbox's answer for it.

use serde_json::{Map, Value, json};

use crate::ident::IdType;

/// How a field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Exactly this many ASCII digits.
    Digits(usize),
    /// Non-blank text of at most 256 characters.
    Text,
}

/// One field of a kind's wire format (all are required strings).
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name in the JSON and, with `-` for `_`, okra-admin's flag.
    pub name: &'static str,
    /// How it is checked.
    pub shape: Shape,
    /// A value a person could be found by: masked in logs and never shown unasked.
    pub personal: bool,
    /// What it is, for the docs, the flags' help and the JSON schema.
    pub doc: &'static str,
}

/// Who a job is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// The label in the reuse store, the pay lock and logs (`bvn`, `rc`).
    pub label: &'static str,
    /// The field that holds the identifier.
    pub field: &'static str,
    /// A second field a stored answer must also match (an account number's bank).
    pub also: Option<&'static str>,
    /// The identity index the job is entered in, so `job find` and `erase` reach it.
    pub index: Option<IdType>,
}

/// Where a verified answer names the identifier asked about, so a profile about somebody
/// else is refused.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// A person's profile at `data.identity`; where it carries one of `same` (inside `under`
    /// when given) it must equal the identifier.
    Person {
        /// The object inside the profile that carries the fields (`customer`), if any.
        under: Option<&'static str>,
        /// The profile's fields for the identifier.
        same: &'static [&'static str],
    },
    /// A company record at `data`.
    Company {
        /// The record's fields for the identifier.
        same: &'static [&'static str],
    },
}

/// One kind of job.
#[derive(Debug)]
pub struct Kind {
    /// The `kind` tag.
    pub name: &'static str,
    /// Its fields, in the order the docs and the Okra request show them.
    pub fields: &'static [Field],
    /// Who the job is about.
    pub subject: Subject,
    /// Whether it verifies a person and so takes `match` (what the customer typed).
    pub matching: bool,
    /// Okra's endpoint (POST, relative to `okra.base_url`).
    pub okra_path: &'static str,
    /// A note on Okra's answer, for the docs.
    pub okra_note: &'static str,
    /// Where Okra's answer names the identifier.
    pub answer: Answer,
    /// The free lookup before a repeat (`okra.lookup.<kind>` overrides it), and where it
    /// comes from.
    pub lookup: Option<(&'static str, &'static str)>,
}

const BVN: Field = Field {
    name: "bvn",
    shape: Shape::Digits(11),
    personal: true,
    doc: "Bank Verification Number",
};
const NIN: Field = Field {
    name: "nin",
    shape: Shape::Digits(11),
    personal: true,
    doc: "National Identification Number",
};
const NUBAN: Field = Field {
    name: "nuban",
    shape: Shape::Digits(10),
    personal: true,
    doc: "bank account number",
};
const BANK: Field = Field {
    name: "bank",
    shape: Shape::Text,
    personal: false,
    doc: "the account's bank (Okra bank id)",
};
const COMPANY: Field = Field {
    name: "company_name",
    shape: Shape::Text,
    personal: false,
    doc: "registered company name",
};
const NUBAN_ANSWER: Answer = Answer::Person {
    under: None,
    same: &["nuban", "account_number", "accountNumber"],
};

/// Every kind.
pub static KINDS: &[Kind] = &[
    Kind {
        name: "bvn_verify",
        fields: &[BVN],
        subject: Subject {
            label: "bvn",
            field: "bvn",
            also: None,
            index: Some(IdType::Bvn),
        },
        matching: true,
        okra_path: "/products/kyc/bvn-verify",
        okra_note: "",
        answer: Answer::Person {
            under: None,
            same: &["bvn"],
        },
        lookup: Some(("/identity/getByBvn", "documented")),
    },
    Kind {
        name: "nin_verify",
        fields: &[NIN],
        subject: Subject {
            label: "nin",
            field: "nin",
            also: None,
            index: Some(IdType::Nin),
        },
        matching: true,
        okra_path: "/products/kyc/nin-verify",
        okra_note: "",
        answer: Answer::Person {
            under: None,
            same: &["nin"],
        },
        lookup: Some((
            "/identity/search",
            "the revamped API's search (path not captured)",
        )),
    },
    Kind {
        name: "nuban_verify",
        fields: &[NUBAN, BANK],
        subject: Subject {
            label: "nuban",
            field: "nuban",
            also: Some("bank"),
            index: Some(IdType::Nuban),
        },
        matching: true,
        okra_path: "/products/kyc/nuban-verify",
        okra_note: "204 = success, valid account with no BVN",
        answer: NUBAN_ANSWER,
        lookup: Some((
            "/identity/getByNuban",
            "\"Get identity by NUBAN\" is documented, its path is not",
        )),
    },
    Kind {
        name: "nuban_name_verify",
        fields: &[NUBAN, BANK],
        subject: Subject {
            label: "nuban",
            field: "nuban",
            also: Some("bank"),
            index: Some(IdType::Nuban),
        },
        matching: true,
        okra_path: "/products/kyc/nuban-name-verify",
        okra_note: "",
        answer: NUBAN_ANSWER,
        lookup: None,
    },
    Kind {
        name: "customer_verify",
        fields: &[Field {
            name: "customer",
            shape: Shape::Text,
            personal: true,
            doc: "Okra customer id",
        }],
        subject: Subject {
            label: "customer",
            field: "customer",
            also: None,
            index: None,
        },
        matching: true,
        okra_path: "/products/kyc/customer-verify",
        okra_note: "",
        answer: Answer::Person {
            under: Some("customer"),
            same: &["_id", "id"],
        },
        lookup: Some(("/identity/getByCustomer", "documented (deprecated)")),
    },
    Kind {
        name: "rc_verify",
        fields: &[
            Field {
                name: "rc_number",
                shape: Shape::Text,
                personal: false,
                doc: "CAC registration number",
            },
            COMPANY,
        ],
        subject: Subject {
            label: "rc",
            field: "rc_number",
            also: None,
            index: None,
        },
        matching: false,
        okra_path: "/products/kyc/rc-verify",
        okra_note: "",
        answer: Answer::Company {
            same: &["rcNo", "rc_number"],
        },
        lookup: None,
    },
    Kind {
        name: "tin_verify",
        fields: &[
            Field {
                name: "tin_number",
                shape: Shape::Text,
                personal: false,
                doc: "tax identification number",
            },
            COMPANY,
        ],
        subject: Subject {
            label: "tin",
            field: "tin_number",
            also: None,
            index: None,
        },
        matching: false,
        okra_path: "/products/kyc/tin-verify",
        okra_note: "",
        answer: Answer::Company {
            same: &["tin", "tin_number"],
        },
        lookup: None,
    },
];

/// The kind named `name`.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// Every kind's name, in the table's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.name)
}

/// Every field of every kind, each once, in the table's order (okra-admin's flags).
pub fn all_fields() -> Vec<&'static Field> {
    let mut out: Vec<&'static Field> = Vec::new();
    for f in KINDS.iter().flat_map(|k| k.fields) {
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    }
    out
}

impl Field {
    /// Checks a value; the message names the field and the rule, never the value.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self.shape {
            Shape::Digits(n) => crate::ident::digits(self.name, value, n),
            Shape::Text if value.trim().is_empty() => Err(format!("{} is required", self.name)),
            Shape::Text if value.len() > 256 => {
                Err(format!("{} is longer than 256 characters", self.name))
            }
            Shape::Text => Ok(()),
        }
    }

    /// How the docs describe it: `bvn` (11 digits).
    pub fn described(&self) -> String {
        match self.shape {
            Shape::Digits(n) => format!("`{}` ({n} digits)", self.name),
            Shape::Text => format!("`{}`", self.name),
        }
    }

    /// Its JSON schema.
    pub fn schema(&self) -> Value {
        match self.shape {
            Shape::Digits(n) => json!({
                "type": "string", "description": self.doc,
                "pattern": format!("^[0-9]{{{n}}}$"),
            }),
            Shape::Text => json!({
                "type": "string", "description": self.doc, "minLength": 1, "maxLength": 256,
            }),
        }
    }
}

impl Kind {
    /// The field named `name`, if the kind has it.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The JSON schema of one job of this kind (draft 2020-12, as OpenAPI 3.1 uses): the
    /// `kind` tag, the fields, and `match` where the kind takes it.
    pub fn schema(&self) -> Value {
        let mut props = Map::new();
        props.insert("kind".into(), json!({"const": self.name}));
        for f in self.fields {
            props.insert(f.name.into(), f.schema());
        }
        if self.matching {
            props.insert(
                "match".into(),
                json!({
                    "type": "object",
                    "description": "what the customer typed, compared with the verified profile",
                    "properties": {
                        "first_name": {"type": "string"}, "last_name": {"type": "string"},
                        "middle_name": {"type": "string"}, "date_of_birth": {"type": "string"},
                        "phone": {"type": "string"}, "gender": {"type": "string"},
                    },
                    "additionalProperties": false,
                }),
            );
        }
        let mut required = vec![Value::from("kind")];
        required.extend(self.fields.iter().map(|f| Value::from(f.name)));
        json!({
            "title": self.name,
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        })
    }
}

/// The JSON schema of any job: one of the kinds' schemas, told apart by `kind`.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "oneOf": KINDS.iter().map(Kind::schema).collect::<Vec<_>>(),
    })
}

/// The README's wire-format table, from the kinds.
pub fn readme_table() -> String {
    let mut out = String::from(
        "| kind | fields | Okra call (POST, JSON, `Authorization: Bearer <secret>`) |\n|---|---|---|\n",
    );
    for k in KINDS {
        let fields: Vec<String> = k.fields.iter().map(Field::described).collect();
        let note = if k.okra_note.is_empty() {
            String::new()
        } else {
            format!("; {}", k.okra_note)
        };
        out.push_str(&format!(
            "| `{}` | {} | `{}`{note} |\n",
            k.name,
            fields.join(", "),
            k.okra_path
        ));
    }
    out
}

/// The README's table of free lookups, from the kinds.
pub fn lookups_table() -> String {
    let mut out = String::from("| kind | free lookup before a repeat | |\n|---|---|---|\n");
    let mut none = Vec::new();
    for k in KINDS {
        match k.lookup {
            Some((path, source)) => {
                let fields: Vec<String> = std::iter::once(k.subject.field)
                    .chain(k.subject.also)
                    .map(str::to_string)
                    .collect();
                out.push_str(&format!(
                    "| `{}` | `{path}` `{{{}}}` | {source} |\n",
                    k.name,
                    fields.join(", ")
                ));
            }
            None => none.push(format!("`{}`", k.name)),
        }
    }
    if !none.is_empty() {
        out.push_str(&format!(
            "| {} | none | names only, or a company: no lookup exists |\n",
            none.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_subjects_are_fields() {
        let mut seen = std::collections::HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.name), "{} twice", k.name);
            assert!(k.field(k.subject.field).is_some(), "{}", k.name);
            if let Some(also) = k.subject.also {
                assert!(k.field(also).is_some(), "{}", k.name);
            }
            if let Some(ty) = k.subject.index {
                assert_eq!(ty.as_str(), k.subject.field, "{}", k.name);
            }
        }
        // A field shared by two kinds means the same in both (one okra-admin flag serves both).
        for a in all_fields() {
            for f in KINDS
                .iter()
                .flat_map(|k| k.fields)
                .filter(|f| f.name == a.name)
            {
                assert_eq!((f.shape, f.personal), (a.shape, a.personal), "{}", a.name);
            }
        }
    }

    #[test]
    fn fields_say_what_is_wrong_without_the_value() {
        assert!(BVN.check("22234567890").is_ok());
        let e = BVN.check("2223456789x").unwrap_err();
        assert!(e.contains("11 digits") && !e.contains("2223456789"), "{e}");
        assert_eq!(BANK.check(" ").unwrap_err(), "bank is required");
        assert!(BANK.check(&"b".repeat(257)).unwrap_err().contains("256"));
    }

    #[test]
    fn the_schema_names_every_field() {
        let s = schema();
        let kinds = s["oneOf"].as_array().unwrap();
        assert_eq!(kinds.len(), KINDS.len());
        // By title, not position: a kind added anywhere in the table leaves this test alone.
        let titled = |name: &str| kinds.iter().find(|k| k["title"] == name).unwrap();
        let nuban = titled("nuban_verify");
        assert_eq!(nuban["required"], json!(["kind", "nuban", "bank"]));
        assert_eq!(nuban["properties"]["nuban"]["pattern"], "^[0-9]{10}$");
        assert!(titled("rc_verify")["properties"].get("match").is_none());
        assert!(nuban["properties"].get("match").is_some());
    }
}
