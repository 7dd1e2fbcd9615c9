//! The registry of technology providers (proveedores tecnológicos): who may write to the aliados
//! buzón, and whose software signed an invoice. Loaded from the configuration (`[[proveedores]]`)
//! and from the CSV an operator imports (`mesa-fe proveedores importar`), kept in the store.

use serde::{Deserialize, Serialize};

/// One registered provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Digits only, without the check digit ("900123456").
    pub nit: String,
    #[serde(rename = "nombre")]
    pub name: String,
    /// E-mail domains it writes from ("proveedor.com.co"), lower-case.
    #[serde(rename = "dominios", default)]
    pub domains: Vec<String>,
    /// Single addresses it writes from (when the domain is shared, e.g. gmail.com), lower-case.
    #[serde(rename = "direcciones", default)]
    pub addresses: Vec<String>,
    #[serde(rename = "activo", default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

/// The providers the desk knows, from configuration and the imported CSV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    providers: Vec<Provider>,
}

impl Registry {
    pub fn new(providers: Vec<Provider>) -> Registry {
        Registry { providers }
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The active provider a sender belongs to: by its exact address first, then by its domain.
    pub fn find_sender(&self, address: &str) -> Option<&Provider> {
        let address = address.trim().to_lowercase();
        let domain = address.rsplit_once('@').map(|(_, d)| d)?;
        let active = || self.providers.iter().filter(|p| p.active);
        active()
            .find(|p| p.addresses.iter().any(|a| a.eq_ignore_ascii_case(&address)))
            .or_else(|| active().find(|p| p.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))))
    }

    /// The provider with this NIT (any form: "900.123.456-7", "900123456"), active or not.
    pub fn by_nit(&self, nit: &str) -> Option<&Provider> {
        let digits = crate::dian::nit::normalize_nit(nit).map(|(n, _)| n)?;
        self.providers.iter().find(|p| p.nit == digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::new(vec![
            Provider {
                nit: "900123456".into(),
                name: "Facturas Andinas SAS".into(),
                domains: vec!["andinas.com.co".into()],
                addresses: vec![],
                active: true,
            },
            Provider {
                nit: "800555111".into(),
                name: "Proveedor Gmail".into(),
                domains: vec![],
                addresses: vec!["proveedor.ltda@gmail.com".into()],
                active: true,
            },
            Provider {
                nit: "811000222".into(),
                name: "Retirado SA".into(),
                domains: vec!["retirado.co".into()],
                addresses: vec![],
                active: false,
            },
        ])
    }

    #[test]
    fn senders_match_by_address_then_domain_and_only_active_ones() {
        let r = registry();
        assert_eq!(r.find_sender("Soporte@Andinas.com.co").map(|p| p.nit.as_str()), Some("900123456"));
        assert_eq!(r.find_sender("proveedor.ltda@gmail.com").map(|p| p.nit.as_str()), Some("800555111"));
        assert_eq!(r.find_sender("otro@gmail.com"), None);
        assert_eq!(r.find_sender("x@retirado.co"), None);
        assert_eq!(r.find_sender("no-es-correo"), None);
    }

    #[test]
    fn nits_match_in_any_written_form() {
        let r = registry();
        assert_eq!(r.by_nit("900.123.456-7").map(|p| p.name.as_str()), Some("Facturas Andinas SAS"));
        assert_eq!(r.by_nit("811000222").map(|p| p.active), Some(false));
        assert_eq!(r.by_nit("123"), None);
    }
}
