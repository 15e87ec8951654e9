//! Test fixtures for the host's contract checks at load, one per feature:
//!
//! | feature           | the component                                                        |
//! |-------------------|----------------------------------------------------------------------|
//! | `future-version`  | implements `kvbox:connector@0.9.0`, a version this host does not know |
//! | `wrong-signature` | claims `kvbox:connector@0.1.0` but its `put` takes the bytes as a     |
//! |                   | `list<u8>` instead of a `borrow<payload>`                             |
//!
//! kvbox must refuse both at load with a `LoadError` that names the
//! versions, or the mismatching export — not fail at the first call.

#[cfg(feature = "future-version")]
mod wit {
    wit_bindgen::generate!({
        inline: "
            package kvbox:connector@0.9.0;
            interface store {
                resource connector {
                    open: static func(config: string) -> result<connector, string>;
                    exists: func(key: string) -> result<bool, string>;
                }
            }
            world connector {
                export store;
            }
        ",
        world: "connector",
    });
}

#[cfg(feature = "wrong-signature")]
mod wit {
    wit_bindgen::generate!({
        inline: "
            package kvbox:connector@0.1.0;
            interface types {
                variant error {
                    invalid-config(string), invalid-key(string), invalid-path(string), too-large(string),
                    no-space(string), quota-exceeded(string), corrupt(string), bad-payload(string),
                    io(string), other(string),
                }
            }
            interface store {
                use types.{error};
                record key-page { keys: list<string>, cursor: option<string> }
                resource connector {
                    open: static func(config: string) -> result<connector, error>;
                    exists: func(key: string) -> result<bool, error>;
                    put: func(key: string, data: list<u8>) -> result<_, error>;
                    get: func(key: string) -> result<option<list<u8>>, error>;
                    remove: func(key: string) -> result<bool, error>;
                    size: func(key: string) -> result<option<u64>, error>;
                    list-keys: func(cursor: option<string>, limit: u32) -> result<key-page, error>;
                }
            }
            world connector {
                export store;
            }
        ",
        world: "connector",
    });
}

#[cfg(feature = "future-version")]
mod impls {
    use super::wit::exports::kvbox::connector::store::{Connector, Guest, GuestConnector};

    struct Future;

    impl GuestConnector for Future {
        fn open(_config: String) -> Result<Connector, String> {
            Ok(Connector::new(Future))
        }
        fn exists(&self, _key: String) -> Result<bool, String> {
            Ok(false)
        }
    }

    struct Component;
    impl Guest for Component {
        type Connector = Future;
    }
    super::wit::export!(Component with_types_in super::wit);
}

#[cfg(feature = "wrong-signature")]
mod impls {
    use super::wit::exports::kvbox::connector::store::{Connector, Guest, GuestConnector, KeyPage};
    use super::wit::kvbox::connector::types::Error;

    struct Wrong;

    impl GuestConnector for Wrong {
        fn open(_config: String) -> Result<Connector, Error> {
            Ok(Connector::new(Wrong))
        }
        fn exists(&self, _key: String) -> Result<bool, Error> {
            Ok(false)
        }
        fn put(&self, _key: String, _data: Vec<u8>) -> Result<(), Error> {
            Ok(())
        }
        fn get(&self, _key: String) -> Result<Option<Vec<u8>>, Error> {
            Ok(None)
        }
        fn remove(&self, _key: String) -> Result<bool, Error> {
            Ok(false)
        }
        fn size(&self, _key: String) -> Result<Option<u64>, Error> {
            Ok(None)
        }
        fn list_keys(&self, _cursor: Option<String>, _limit: u32) -> Result<KeyPage, Error> {
            Ok(KeyPage { keys: Vec::new(), cursor: None })
        }
    }

    struct Component;
    impl Guest for Component {
        type Connector = Wrong;
    }
    super::wit::export!(Component with_types_in super::wit);
}
