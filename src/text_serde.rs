//! Typed values written as their text: the CSV writer and the shard reader see `f32`, `central`,
//! `1e-3`, while the code keeps [`crate::scalar::DType`], [`crate::method::Scheme`] and exact
//! steps typed until that edge.

/// `Serialize` as the type's `Display` text and `Deserialize` through its `parse(&str)`.
#[macro_export]
#[doc(hidden)]
macro_rules! text_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$t>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An enum of named choices: the enum with `Clone, Copy, Debug, PartialEq, Eq, Hash`, a slice
/// `ALL` of its variants, `name()` giving each variant's text, `parse(&str)` reading it back (an
/// [`crate::Error::Value`] naming `what` and listing the choices otherwise), `Display` as the
/// name, and text serde ([`text_serde!`]).
#[macro_export]
#[doc(hidden)]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The variant's name, as parsed and as written in CSVs.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a name of [`Self::name`] (surrounding spaces ignored).
            ///
            /// # Errors
            /// [`crate::Error::Value`] naming the text and listing the choices.
            pub fn parse(s: &str) -> $crate::Result<Self> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::Error::value($what, s, $crate::text_serde::choices(&[$($text),+]))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        $crate::text_serde!($name);
    };
}

/// `a`, `a or b`, `a, b or c`: the choices of a [`named_enum!`] as a phrase.
pub fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
