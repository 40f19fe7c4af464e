//! Values generated locally: the `random` provider and its `random:password` type.
//!
//! A password is generated once, at create, and kept in state (encrypted, as every secret
//! is); every argument forces a new one. Nothing is sent anywhere.

use async_trait::async_trait;
use iac_dsl::value::secret;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, DiffRequest, DiffResponse, FieldErrors, Input,
    LookupRequest, Props, Provider, ProviderError, ReadRequest, ReadResponse, ResourceArgs,
    ResourceContext, UpdateRequest, UpdateResponse, Value,
};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

const PASSWORD: &str = "random:password";

/// The special characters used unless [`PasswordArgs::override_special`] says otherwise.
pub const DEFAULT_SPECIAL: &str = "!#$%&*()-_=+[]{}<>:?";

/// The `random` provider. Stateless: declare it once per stack.
#[derive(Debug, Clone, Default)]
pub struct Random;

impl Random {
    /// The provider.
    pub fn new() -> Self {
        Random
    }
}

/// Arguments of a generated password.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PasswordArgs {
    length: usize,
    lower: bool,
    upper: bool,
    numeric: bool,
    special: bool,
    min_lower: usize,
    min_upper: usize,
    min_numeric: usize,
    min_special: usize,
    override_special: Option<String>,
    exclude: String,
}

impl PasswordArgs {
    /// A password of `length` characters from all four classes.
    pub fn new(length: usize) -> Self {
        PasswordArgs {
            length,
            lower: true,
            upper: true,
            numeric: true,
            special: true,
            min_lower: 0,
            min_upper: 0,
            min_numeric: 0,
            min_special: 0,
            override_special: None,
            exclude: String::new(),
        }
    }

    /// A password Aurora accepts as a master password: printable ASCII without `/`, `"`,
    /// `@` or space, at least one of each class. Aurora allows 8 to 41 characters.
    pub fn aurora(length: usize) -> Self {
        PasswordArgs::new(length)
            .override_special("!#$%&*()-_=+[]{}<>:?")
            .exclude("/\"@ ")
            .min_lower(1)
            .min_upper(1)
            .min_numeric(1)
            .min_special(1)
    }

    /// Whether lower-case letters are used.
    pub fn lower(mut self, on: bool) -> Self {
        self.lower = on;
        self
    }

    /// Whether upper-case letters are used.
    pub fn upper(mut self, on: bool) -> Self {
        self.upper = on;
        self
    }

    /// Whether digits are used.
    pub fn numeric(mut self, on: bool) -> Self {
        self.numeric = on;
        self
    }

    /// Whether special characters are used.
    pub fn special(mut self, on: bool) -> Self {
        self.special = on;
        self
    }

    /// At least `n` lower-case letters.
    pub fn min_lower(mut self, n: usize) -> Self {
        self.min_lower = n;
        self
    }

    /// At least `n` upper-case letters.
    pub fn min_upper(mut self, n: usize) -> Self {
        self.min_upper = n;
        self
    }

    /// At least `n` digits.
    pub fn min_numeric(mut self, n: usize) -> Self {
        self.min_numeric = n;
        self
    }

    /// At least `n` special characters.
    pub fn min_special(mut self, n: usize) -> Self {
        self.min_special = n;
        self
    }

    /// The set of special characters to draw from.
    pub fn override_special(mut self, chars: &str) -> Self {
        self.override_special = Some(chars.to_string());
        self
    }

    /// Characters never to use.
    pub fn exclude(mut self, chars: &str) -> Self {
        self.exclude = chars.to_string();
        self
    }

    /// The characters of each class after exclusions: (enabled, minimum, characters, name).
    fn classes(&self) -> [(bool, usize, Vec<char>, &'static str); 4] {
        let keep = |set: &str| -> Vec<char> {
            set.chars().filter(|c| !self.exclude.contains(*c)).collect()
        };
        let special = self.override_special.as_deref().unwrap_or(DEFAULT_SPECIAL);
        [
            (
                self.lower,
                self.min_lower,
                keep("abcdefghijklmnopqrstuvwxyz"),
                "lower",
            ),
            (
                self.upper,
                self.min_upper,
                keep("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                "upper",
            ),
            (
                self.numeric,
                self.min_numeric,
                keep("0123456789"),
                "numeric",
            ),
            (self.special, self.min_special, keep(special), "special"),
        ]
    }

    /// Every reason these rules cannot be satisfied.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(1..=1024).contains(&self.length) {
            out.push((
                "length".into(),
                format!("{} is not within 1..1024", self.length),
            ));
        }
        let classes = self.classes();
        if !classes
            .iter()
            .any(|(on, _, chars, _)| *on && !chars.is_empty())
        {
            out.push((
                "lower".into(),
                "no character class is left to draw from".into(),
            ));
        }
        let mut required = 0;
        for (on, min, chars, name) in &classes {
            if *min > 0 && !*on {
                out.push((
                    format!("min_{name}"),
                    format!("{min} required but `{name}` is off"),
                ));
            } else if *min > 0 && chars.is_empty() {
                out.push((
                    format!("min_{name}"),
                    format!("{min} required but every `{name}` character is excluded"),
                ));
            }
            required += min;
        }
        if required > self.length {
            out.push((
                "length".into(),
                format!(
                    "{} is shorter than the {required} characters the minimums require",
                    self.length
                ),
            ));
        }
        out
    }

    /// Generates a password that follows the rules (call [`Self::problems`] first).
    fn generate(&self) -> String {
        let mut rng = rand::rng();
        let classes = self.classes();
        let mut chars = Vec::with_capacity(self.length);
        let mut pool = Vec::new();
        for (on, min, set, _) in &classes {
            if *on && !set.is_empty() {
                for _ in 0..*min {
                    chars.push(set[rng.random_range(0..set.len())]);
                }
                pool.extend_from_slice(set);
            }
        }
        while chars.len() < self.length {
            chars.push(pool[rng.random_range(0..pool.len())]);
        }
        chars.shuffle(&mut rng);
        chars.into_iter().collect()
    }
}

impl ResourceArgs for PasswordArgs {
    type Handle = Password;

    fn type_token(&self) -> &'static str {
        PASSWORD
    }

    fn props(&self) -> Props {
        let value = serde_json::to_value(self).unwrap_or_default();
        let mut props = Props::new();
        if let Value::Object(map) = value {
            for (k, v) in map {
                props = props.set(&k, &Input::Value(v));
            }
        }
        props
    }

    fn validate(&self, errors: &mut FieldErrors) {
        for (field, message) in self.problems() {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared password.
    Password {
        /// The generated value; secret.
        result: String,
    }
}

/// Values made locally cost nothing: the estimate lists them at zero.
struct Free;

impl iac_dsl::CostModel for Free {
    fn assumptions(&self) -> Vec<iac_dsl::cost::Assumption> {
        Vec::new()
    }

    fn estimate(
        &self,
        _: &iac_dsl::cost::CostSubject<'_>,
        _: &iac_dsl::cost::Usage,
    ) -> Result<Vec<iac_dsl::cost::CostLine>, String> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl Provider for Random {
    fn package(&self) -> &str {
        "random"
    }

    fn cost_model(&self) -> Option<std::sync::Arc<dyn iac_dsl::CostModel>> {
        Some(std::sync::Arc::new(Free))
    }

    fn diff(&self, req: &DiffRequest<'_>) -> Result<DiffResponse, ProviderError> {
        // A new rule means a new value.
        Ok(DiffResponse {
            replace_keys: req.changed_keys.to_vec(),
            ..DiffResponse::default()
        })
    }

    fn check(&self, ctx: &ResourceContext, inputs: &Value) -> Vec<(String, String)> {
        if ctx.type_token != PASSWORD {
            return vec![(
                "type".into(),
                format!("random has no type `{}`", ctx.type_token),
            )];
        }
        match serde_json::from_value::<PasswordArgs>(inputs.clone()) {
            Ok(args) => args.problems(),
            Err(e) => vec![("inputs".into(), e.to_string())],
        }
    }

    async fn create(&self, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let problems = self.check(&req.ctx, &req.inputs);
        if !problems.is_empty() {
            return Err(ProviderError::validation(problems));
        }
        let args: PasswordArgs = serde_json::from_value(req.inputs)
            .map_err(|e| ProviderError::validation(vec![("inputs".into(), e.to_string())]))?;
        Ok(CreateResponse {
            id: req.token,
            outputs: serde_json::json!({ "result": secret(Value::String(args.generate())) }),
        })
    }

    async fn read(&self, req: ReadRequest) -> Result<Option<ReadResponse>, ProviderError> {
        // Nothing lives outside state: what was recorded is what exists, still secret.
        let mut outputs = req.outputs;
        if let Some(result) = outputs.get_mut("result") {
            *result = secret(result.take());
        }
        Ok(Some(ReadResponse {
            id: req.id,
            inputs: req.inputs,
            outputs,
        }))
    }

    async fn update(&self, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, _req: DeleteRequest) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn lookup(&self, _req: LookupRequest) -> Result<Option<ReadResponse>, ProviderError> {
        // An interrupted create made nothing anywhere: create again.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_their_rules() {
        for _ in 0..200 {
            let args = PasswordArgs::aurora(16);
            let p = args.generate();
            assert_eq!(p.chars().count(), 16);
            assert!(!p.contains(['/', '"', '@', ' ']), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| DEFAULT_SPECIAL.contains(c)));
        }
        let digits = PasswordArgs::new(12)
            .lower(false)
            .upper(false)
            .special(false)
            .exclude("0");
        assert!(
            digits
                .generate()
                .chars()
                .all(|c| c.is_ascii_digit() && c != '0')
        );
    }

    #[test]
    fn impossible_rules_name_their_fields() {
        let fields = |a: PasswordArgs| a.problems().into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(fields(PasswordArgs::aurora(3)), ["length"]);
        assert_eq!(
            fields(
                PasswordArgs::new(8)
                    .lower(false)
                    .upper(false)
                    .numeric(false)
                    .special(false)
            ),
            ["lower"]
        );
        assert_eq!(
            fields(
                PasswordArgs::new(8)
                    .min_special(1)
                    .override_special("@")
                    .exclude("@")
            ),
            ["min_special"]
        );
        assert_eq!(fields(PasswordArgs::new(0)), ["length"]);
        assert!(PasswordArgs::aurora(41).problems().is_empty());
    }
}
