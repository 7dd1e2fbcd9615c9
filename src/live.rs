//! The setup every task of the daemon reads — configuration, agents, known-error base, signing
//! key, templates — replaced whole on SIGHUP (`systemctl reload`). A new setup that does not
//! load is refused and the running one stays; IMAP sessions are not touched.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::mail::outgoing::{OutgoingError, Templates};
use crate::pipeline::Desk;

/// What a reload replaces.
pub struct Setup {
    pub desk: Arc<Desk>,
    pub templates: Arc<Templates>,
}

impl Setup {
    /// The desk with its templates (the configured folder, or the built-in ones).
    pub fn new(desk: Desk) -> Result<Setup, OutgoingError> {
        let templates = load_templates(&desk.config)?;
        Ok(Setup { desk: Arc::new(desk), templates: Arc::new(templates) })
    }
}

/// The current setup, as a task sees it: read it anew for each unit of work.
#[derive(Clone)]
pub struct Live(watch::Receiver<Arc<Setup>>);

/// The side that replaces the setup.
pub struct Publisher(watch::Sender<Arc<Setup>>);

pub fn channel(setup: Setup) -> (Publisher, Live) {
    let (sender, receiver) = watch::channel(Arc::new(setup));
    (Publisher(sender), Live(receiver))
}

impl Live {
    pub fn desk(&self) -> Arc<Desk> {
        self.0.borrow().desk.clone()
    }

    pub fn templates(&self) -> Arc<Templates> {
        self.0.borrow().templates.clone()
    }
}

impl Publisher {
    /// Puts `setup` in place; returns the settings that only a restart applies (buzón
    /// connections), for the operator's log.
    pub fn replace(&self, setup: Setup) -> Vec<String> {
        let pending = restart_only_changes(&self.0.borrow().desk.config, &setup.desk.config);
        self.0.send_replace(Arc::new(setup));
        pending
    }

    pub fn current(&self) -> Arc<Setup> {
        self.0.borrow().clone()
    }
}

/// The configured templates folder, or the built-in templates.
pub fn load_templates(config: &Config) -> Result<Templates, OutgoingError> {
    let folder = &config.general.templates;
    if folder.is_empty() { Ok(Templates::builtin()) } else { Templates::load(Path::new(folder)) }
}

/// Buzones added, removed or whose IMAP/SMTP connection changed: the watchers and senders keep
/// the settings they started with.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Vec::new();
    for buzon in &new.buzones {
        match old.buzon(&buzon.name) {
            None => changes.push(format!("buzón nuevo {}", buzon.name)),
            Some(before) if before.imap != buzon.imap || before.smtp != buzon.smtp => {
                changes.push(format!("conexión del buzón {}", buzon.name))
            }
            Some(_) => {}
        }
    }
    for buzon in &old.buzones {
        if new.buzon(&buzon.name).is_none() {
            changes.push(format!("buzón retirado {}", buzon.name));
        }
    }
    if old.general.database_url != new.general.database_url
        || old.general.database_password != new.general.database_password
        || old.general.state_dir != new.general.state_dir
    {
        changes.push("base de datos o directorio de estado".into());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::knowledge::KnowledgeBase;

    fn desk(config: Config) -> Desk {
        Desk::new(config, KnowledgeBase::builtin())
    }

    #[test]
    fn a_replaced_setup_is_what_readers_see_next() {
        let config = Config::builtin().expect("config");
        let (publisher, live) = channel(Setup::new(desk(config.clone())).expect("setup"));
        assert_eq!(live.desk().config.agentes.len(), config.agentes.len());
        let mut more = config.clone();
        more.agentes.truncate(1);
        let pending = publisher.replace(Setup::new(desk(more)).expect("setup"));
        assert!(pending.is_empty(), "{pending:?}");
        assert_eq!(live.desk().config.agentes.len(), 1);
    }

    #[test]
    fn connection_changes_are_named_for_a_restart() {
        let config = Config::builtin().expect("config");
        let (publisher, _live) = channel(Setup::new(desk(config.clone())).expect("setup"));
        let mut other = config.clone();
        other.buzones.pop();
        let pending = publisher.replace(Setup::new(desk(other)).expect("setup"));
        assert_eq!(pending, vec!["buzón retirado aliados".to_string()]);
    }
}
