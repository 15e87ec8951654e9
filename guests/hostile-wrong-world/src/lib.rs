//! Test fixture: a well-formed component exporting the wrong world (a
//! key-value store of its own design). kvbox must refuse it at load with a
//! typed error naming the missing `kvbox:connector/store` export.

mod wit {
    wit_bindgen::generate!({
        inline: "
            package fixture:wrong-world;
            interface kv {
                get: func(key: string) -> option<list<u8>>;
            }
            world impostor {
                export kv;
            }
        ",
        world: "impostor",
    });
}

struct Impostor;

impl wit::exports::fixture::wrong_world::kv::Guest for Impostor {
    fn get(_key: String) -> Option<Vec<u8>> {
        None
    }
}

wit::export!(Impostor with_types_in wit);
