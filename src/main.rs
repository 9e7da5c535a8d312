fn main() -> std::process::ExitCode {
    basewatch::cli::main()
}
