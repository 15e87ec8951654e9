//! The bridge from [`Connector`] to the generated bindings, and the panic hook.

use crate::wit::exports::kvbox::connector::store::{self as wit_store, GuestConnector};
use crate::wit::kvbox::connector::payload::Payload as WitPayload;
use crate::wit::kvbox::connector::types::Error as WitError;
use crate::{Connector, Payload};
use std::marker::PhantomData;

pub use crate::wit::export;
pub use wit_store::Guest;

/// The component for connector `C`; [`export_connector!`](crate::export_connector) exports it.
pub struct Component<C>(PhantomData<C>);

impl<C: Connector> Guest for Component<C> {
    type Connector = Adapter<C>;
}

/// One open store, as the generated bindings see it.
pub struct Adapter<C>(C);

fn one<T>(r: Result<T, crate::Error>) -> Result<T, WitError> {
    r.map_err(Into::into)
}

fn each<T>(rs: Vec<Result<T, crate::Error>>) -> Vec<Result<T, WitError>> {
    rs.into_iter().map(one).collect()
}

impl<C: Connector> GuestConnector for Adapter<C> {
    fn open(config: String) -> Result<wit_store::Connector, WitError> {
        report_panics();
        Ok(wit_store::Connector::new(Adapter(one(C::open(&config))?)))
    }

    fn exists(&self, key: String) -> Result<bool, WitError> {
        one(self.0.exists(&key))
    }

    fn put(&self, key: String, data: &WitPayload) -> Result<(), WitError> {
        one(self.0.put(&key, Payload::from_wit_ref(data)))
    }

    fn get(&self, key: String) -> Result<Option<WitPayload>, WitError> {
        Ok(one(self.0.get(&key))?.map(Payload::into_wit))
    }

    fn remove(&self, key: String) -> Result<bool, WitError> {
        one(self.0.remove(&key))
    }

    fn size(&self, key: String) -> Result<Option<u64>, WitError> {
        one(self.0.size(&key))
    }

    fn exists_many(&self, keys: Vec<String>) -> Vec<Result<bool, WitError>> {
        each(self.0.exists_many(&keys))
    }

    fn size_many(&self, keys: Vec<String>) -> Vec<Result<Option<u64>, WitError>> {
        each(self.0.size_many(&keys))
    }

    fn get_many(&self, keys: Vec<String>) -> Vec<Result<Option<WitPayload>, WitError>> {
        self.0.get_many(&keys).into_iter().map(|r| Ok(one(r)?.map(Payload::into_wit))).collect()
    }

    // The targets and data are handed over for the call only: they are
    // dropped (given back to the host) when these return.
    fn get_many_into(&self, keys: Vec<String>, targets: Vec<WitPayload>) -> Vec<Result<Option<u64>, WitError>> {
        let targets: Vec<Payload> = targets.into_iter().map(Payload::from_wit).collect();
        each(self.0.get_many_into(&keys, &targets))
    }

    fn put_many(&self, keys: Vec<String>, data: Vec<WitPayload>) -> Vec<Result<(), WitError>> {
        let data: Vec<Payload> = data.into_iter().map(Payload::from_wit).collect();
        each(self.0.put_many(&keys, &data))
    }

    fn remove_many(&self, keys: Vec<String>) -> Vec<Result<bool, WitError>> {
        each(self.0.remove_many(&keys))
    }

    fn list_keys(&self, cursor: Option<String>, limit: u32) -> Result<wit_store::KeyPage, WitError> {
        let page = one(self.0.list_keys(cursor.as_deref(), limit))?;
        Ok(wit_store::KeyPage { keys: page.keys, cursor: page.cursor })
    }
}

/// Replaces the default panic hook (a multi-line message on stderr, whose
/// backtrace is stripped in a release build anyway) with one `error` record
/// in the host's log: `panicked at <file>:<line>:<col>: <message>`. The host
/// attaches it to the `TrapError` the caller gets.
fn report_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(a panic without a message)");
            let at = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
            crate::log::error(&format!("panicked{at}: {message}"));
        }));
    });
}

/// Exports `$connector` (a type implementing [`Connector`](crate::Connector))
/// as the component's `kvbox:connector/store`. Use it once, at the crate root.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        type __KvboxConnectorComponent = $crate::__private::Component<$connector>;
        $crate::__private::export!(__KvboxConnectorComponent with_types_in $crate::__private::wit);
    };
}
