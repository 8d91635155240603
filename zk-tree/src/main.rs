fn main() -> std::process::ExitCode {
    zk_common::app::main(zk_tree::run)
}
