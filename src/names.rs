//! Enums with one written name per variant: the name stored in SQL, written in TOML and JSON,
//! shown by the CLI and read back. [`named_enum!`] declares the enum and its names in one list,
//! so `as_str`, `parse` and serde cannot disagree.

use std::marker::PhantomData;

/// An enum declared with [`named_enum!`].
pub trait Named: Sized + Copy + 'static {
    /// The written names, in declaration order.
    const NAMES: &'static [&'static str];

    fn from_name(name: &str) -> Option<Self>;
}

/// Declares an enum whose variants each carry the one name they are written with:
///
/// ```
/// mesa_fe::names::named_enum! {
///     /// Where a light is.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Light {
///         Red = "rojo",
///         Green = "verde",
///     }
/// }
/// assert_eq!(Light::parse("verde"), Some(Light::Green));
/// assert_eq!(Light::Red.as_str(), "rojo");
/// assert_eq!(Light::ALL.len(), 2);
/// ```
///
/// Besides `as_str`, `parse` (exact name) and `ALL`, it implements serde's
/// `Serialize` and `Deserialize` with the same names; an unknown name is refused with the list of
/// valid ones, in Spanish, since operators read it in their configuration's errors.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The name it is written with.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// The variant written exactly `name`.
            pub fn parse(name: &str) -> Option<$name> {
                match name {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl $crate::names::Named for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn from_name(name: &str) -> Option<Self> {
                $name::parse(name)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str($crate::names::NameVisitor::<$name>::new())
            }
        }
    };
}

pub use crate::named_enum;

/// Reads a [`Named`] enum from a string.
pub struct NameVisitor<T>(PhantomData<T>);

impl<T> NameVisitor<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NameVisitor(PhantomData)
    }
}

impl<T: Named> serde::de::Visitor<'_> for NameVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "uno de: {}", T::NAMES.join(", "))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        T::from_name(value).ok_or_else(|| E::custom(unknown_name(value, T::NAMES)))
    }
}

/// "valor desconocido "n7"; valores válidos: n1, n2, …": the error for a name no variant has.
pub fn unknown_name(value: &str, names: &[&str]) -> String {
    format!("valor desconocido \"{value}\"; valores válidos: {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    named_enum! {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Fruit {
            Apple = "manzana",
            /// A comment on a variant stays on the variant.
            Mango = "mango_de_azucar",
        }
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    struct Basket {
        fruit: Fruit,
    }

    #[test]
    fn every_name_reads_back_to_its_variant() {
        for fruit in Fruit::ALL {
            assert_eq!(Fruit::parse(fruit.as_str()), Some(fruit));
        }
        assert_eq!(Fruit::parse("Manzana"), None, "names are exact");
    }

    #[test]
    fn serde_uses_the_same_names() {
        let basket = Basket { fruit: Fruit::Mango };
        let json = serde_json::to_string(&basket).expect("serialize");
        assert_eq!(json, r#"{"fruit":"mango_de_azucar"}"#);
        assert_eq!(serde_json::from_str::<Basket>(&json).expect("read back"), basket);
        let toml: Basket = toml::from_str("fruit = \"manzana\"").expect("toml");
        assert_eq!(toml.fruit, Fruit::Apple);
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let error = serde_json::from_str::<Basket>(r#"{"fruit":"pera"}"#).expect_err("unknown");
        assert!(
            error
                .to_string()
                .contains("valor desconocido \"pera\"; valores válidos: manzana, mango_de_azucar"),
            "{error}"
        );
        let error = serde_json::from_str::<Basket>(r#"{"fruit":3}"#).expect_err("a number");
        assert!(error.to_string().contains("uno de: manzana, mango_de_azucar"), "{error}");
    }
}
