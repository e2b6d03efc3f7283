"""The cross-file checks of `sync-runner validate`, run on the parts of each document that
passed the schema (`runner.spec.schema`): one mixin of `base.Checker` per kind of file,
combined in `runner.spec.validate`."""
