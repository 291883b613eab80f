//! Checks for who may call the gateway: `plans`, `consumers`, the `authentication` providers,
//! the `auth` and `ip` blocks of routes, and `client_ip`.
//!
//! Secrets written as `{ env: NAME }` are read from the environment here, while loading, so a
//! missing variable is a diagnostic like any other problem.

mod consumers;
mod jwt;
mod network;
mod providers;
mod route_rules;
mod values;

use serde_saphyr::Spanned;

use crate::file;

pub(super) use consumers::{consumers, plans};
pub(super) use providers::authentication;
pub(super) use route_rules::{client_ip, ip_rules, route_auth};

/// The provider names written under `authentication`, in file order, so that a name's
/// position is the provider's index in the model.
pub(super) struct ProviderNames<'f> {
    pub jwt: Vec<&'f str>,
    pub introspection: Vec<&'f str>,
}

impl<'f> ProviderNames<'f> {
    pub(super) fn of(section: Option<&'f Spanned<file::Authentication>>) -> Self {
        let section = section.map(|section| &section.value);
        let jwt = section.and_then(|section| section.jwt.as_ref());
        let introspection = section.and_then(|section| section.introspection.as_ref());
        ProviderNames {
            jwt: names_in(jwt, |provider| &provider.name),
            introspection: names_in(introspection, |provider| &provider.name),
        }
    }
}

/// Returns the names written in a list section, in file order. References resolve against
/// these rather than against the model, so that an entry left out of the model for its own
/// problem is not also reported as undefined wherever it is used. Both orders agree whenever
/// the configuration is valid.
pub(super) fn names_in<'f, T>(
    section: Option<&'f file::SpannedList<T>>,
    name: impl Fn(&'f T) -> &'f Spanned<String>,
) -> Vec<&'f str> {
    let items = section
        .map(|list| list.value.as_slice())
        .unwrap_or_default();
    items
        .iter()
        .map(|item| name(&item.value).value.as_str())
        .collect()
}
