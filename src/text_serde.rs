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
