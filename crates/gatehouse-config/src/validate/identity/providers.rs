//! Checks for the `authentication` section: where API keys are read from, and the
//! introspection providers. JWT providers are checked in `jwt`.

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::file::{self, SpannedList};
use crate::model::{ApiKeySettings, Authentication, IntrospectionProvider};
use crate::validate::fields::{
    check_name, check_unique_names, duration, header_name, positive_duration,
};
use crate::validate::report::Report;
use crate::validate::FileBase;

use super::jwt::jwt_providers;
use super::values::{claim_name, endpoint_url, query_parameter, secret};

/// Checks the `authentication` section; an absent section gives API key defaults and no
/// providers. Providers with a problem are left out of the result.
pub(crate) fn authentication(
    section: Option<&Spanned<file::Authentication>>,
    base: &FileBase,
    report: &mut Report,
) -> Authentication {
    let Some(section) = section else {
        return Authentication::default();
    };
    let file = &section.value;
    Authentication {
        api_key: api_key_settings(file.api_key.as_ref(), report),
        jwt: jwt_providers(file.jwt.as_ref(), base, report),
        introspection: introspection_providers(file.introspection.as_ref(), report),
    }
}

fn api_key_settings(
    section: Option<&Spanned<file::ApiKey>>,
    report: &mut Report,
) -> ApiKeySettings {
    let mut settings = ApiKeySettings::default();
    let Some(section) = section else {
        return settings;
    };
    let file = &section.value;
    if let Some(header) = &file.header {
        match header_name(&header.value) {
            Ok(name) => settings.header = name,
            Err(problem) => {
                report.push(&header.referenced, "authentication.api_key.header", problem)
            }
        }
    }
    settings.bearer = file.bearer.as_ref().is_some_and(|bearer| bearer.value);
    if let Some(query) = &file.query {
        match query_parameter(&query.value, "query") {
            Ok(()) => settings.query = Some(query.value.clone()),
            Err(problem) => report.push(&query.referenced, "authentication.api_key.query", problem),
        }
    }
    settings
}

fn introspection_providers(
    section: Option<&SpannedList<file::IntrospectionProvider>>,
    report: &mut Report,
) -> Vec<IntrospectionProvider> {
    let Some(items) = section.map(|list| &list.value) else {
        return Vec::new();
    };
    let names = items.iter().enumerate().map(|(index, item)| {
        let path = format!("authentication.introspection[{index}].name");
        (&item.value.name, path)
    });
    check_unique_names(report, "introspection provider", names);
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let path = format!("authentication.introspection[{index}]");
            introspection_provider(&item.value, &path, report)
        })
        .collect()
}

fn introspection_provider(
    file: &file::IntrospectionProvider,
    path: &str,
    report: &mut Report,
) -> Option<IntrospectionProvider> {
    let key_path = |key: &str| format!("{path}.{key}");
    check_name(
        report,
        &file.name,
        &key_path("name"),
        "introspection provider",
    );
    let url = match endpoint_url(&file.url.value, "url") {
        Ok(()) => Some(file.url.value.clone()),
        Err(problem) => {
            report.push(&file.url.referenced, &key_path("url"), problem);
            None
        }
    };
    if file.client_id.value.is_empty() {
        let help = "write the client id that the introspection endpoint knows the gateway by";
        report.error(
            &file.client_id,
            &key_path("client_id"),
            "client_id is empty",
            help,
        );
    }
    let client_secret = secret(report, &file.client_secret, &key_path("client_secret"));
    let cache_ttl = duration(report, file.cache_ttl.as_ref(), &key_path("cache_ttl"));
    let timeout = positive_duration(report, file.timeout.as_ref(), &key_path("timeout"));
    let consumer_claim = match &file.consumer_claim {
        None => Some("sub".to_string()),
        Some(claim) => match claim_name(&claim.value, "consumer_claim") {
            Ok(()) => Some(claim.value.clone()),
            Err(problem) => {
                report.push(&claim.referenced, &key_path("consumer_claim"), problem);
                None
            }
        },
    };
    Some(IntrospectionProvider {
        name: file.name.value.clone(),
        url: url?,
        client_id: file.client_id.value.clone(),
        client_secret: client_secret?,
        cache_ttl: cache_ttl.unwrap_or(Duration::from_secs(60)),
        timeout: timeout.unwrap_or(Duration::from_secs(2)),
        consumer_claim,
        require_consumer: file
            .require_consumer
            .as_ref()
            .is_some_and(|flag| flag.value),
    })
}
